"""Every page in docs/ is reachable from the README, so a reader who ran ``pip install``
finds it: a new page left out of the README fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_readme_links_every_docs_page(page: Path) -> None:
    assert f"(docs/{page.name})" in (ROOT / "README.md").read_text(), (
        f"docs/{page.name} is not linked from the README (its Documentation table)"
    )
