"""A backend made from plugins/_template, outside this repository, works as a third party's.

The test does what plugins/_template/README.md tells an author to do: copy the
template to a directory of its own, rename ``example`` to the backend's name, install it
with pip into a fresh virtualenv that holds only litestream-core (with its ``testing``
extra), see it in ``litestream plugins``, and run its tests, the conformance kit
included, against its own test server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from litestream_core.testing import ReplicaClientSuite

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "plugins" / "_template"


def rename(directory: Path, name: str) -> None:
    """The README's renaming step: ``example`` becomes ``name`` in paths and text."""
    title = name.capitalize()
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            text = path.read_text()
            path.write_text(text.replace("Example", title).replace("example", name))
        if "example" in path.name:
            path.rename(path.with_name(path.name.replace("example", name)))


def run(*argv: str | Path, cwd: Path | None = None, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{argv[:3]} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_backend_from_template_installs_alone_and_passes_the_kit(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (scripts/setup installs it)")
    backend = tmp_path / "litestream-acme"
    shutil.copytree(TEMPLATE, backend, ignore=shutil.ignore_patterns("__pycache__"))
    rename(backend, "acme")
    assert ROOT not in backend.parents

    # A fresh venv (with pip, as a user has) holding litestream-core and its test extra.
    wheels = tmp_path / "wheels"
    run(uv, "build", "--package", "litestream-core", "--wheel", "--out-dir", wheels, cwd=ROOT)
    (core,) = wheels.glob("litestream_core-*.whl")
    venv = tmp_path / "venv"
    run(uv, "venv", "--seed", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--python", python, f"{core}[testing]")

    run(python, "-m", "pip", "install", "--quiet", ".", cwd=backend)

    listed = json.loads(run(venv / "bin" / "litestream", "plugins", "--json"))
    names = {p.get("name") for p in listed}
    assert "acme" in names, listed
    (acme,) = [p for p in listed if p.get("name") == "acme"]
    assert acme.get("schemes") == ["acme"], acme
    assert acme.get("distribution") == "litestream-acme", acme

    # Its own tests: the conformance kit and the server fixture, as shipped.
    report = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=backend)
    last = report.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in .*", last), report
    suite = [name for name in dir(ReplicaClientSuite) if name.startswith("test_")]
    assert int(last.split()[0]) > len(suite), f"the conformance suite did not run whole: {last}"
