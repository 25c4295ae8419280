"""The plugin guide documents every hook with its exact, current signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from litestream_core import hookspecs

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins" / "hooks.md"

HOOKS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if name.startswith("litestream_") and hasattr(obj, "litestream_spec")
)


def signature_line(name: str) -> str:
    """The ``def`` line as written in the doc, built from the spec's annotations."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}:"


def test_hookspecs_are_found() -> None:
    assert "litestream_register_replica_clients" in HOOKS
    assert "litestream_event" in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_heading_and_its_exact_signature(name: str) -> None:
    text = DOC.read_text()
    headings = re.findall(r"^## (\S+)\s*$", text, flags=re.MULTILINE)
    assert name in headings, f"docs/plugins/hooks.md has no '## {name}' heading"
    section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
    assert signature_line(name) in section.splitlines(), (
        f"the '{name}' section must show: {signature_line(name)}"
    )
    assert "**When called:**" in section


def test_no_heading_documents_a_hook_that_does_not_exist() -> None:
    headings = re.findall(r"^## (litestream_\S+)\s*$", DOC.read_text(), flags=re.MULTILINE)
    assert sorted(headings) == HOOKS
