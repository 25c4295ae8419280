"""A backend made from plugins/_template, outside this repository, works as a third party's.

The test does what plugins/_template/README.md tells an author to do: copy the
template to a directory of its own, rename ``example`` to the backend's name, install it
with pip into a fresh virtualenv that holds only litestream-core (with its ``testing``
extra), see it and its own config keys in ``litestream plugins -v``, replicate and
restore through a YAML config that sets those keys, and run its tests, the conformance
kit included, against its own test server.
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
from litestream_core.testing.e2e import insert_rows, rows, wait_for, write_config
from litestream_core.testing.servers import answers_http, free_port

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


def run(
    *argv: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    code: int = 0,
    timeout: float = 300,
) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    environ.update(env or {})
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == code, (
        f"{argv[:3]} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout + proc.stderr


def replicate_and_restore_with_own_keys(backend: Path, venv: Path, work: Path) -> None:
    litestream = venv / "bin" / "litestream"
    token = "acme-secret-token-7d2f"
    port = free_port()
    server = subprocess.Popen(
        [
            venv / "bin" / "python",
            backend / "tests" / "storage_server.py",
            str(port),
            work / "store",
            token,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        answers = answers_http(f"http://127.0.0.1:{port}/", any_status=True)

        def up() -> bool:
            try:
                return answers()
            except OSError:
                return False

        wait_for(up, "the acme storage server did not start")
        db = work / "app.db"
        insert_rows(db, range(1, 101), wal=True)

        def config(name: str, token_line: str) -> Path:
            return write_config(
                work / name,
                db,
                [f"url: acme://127.0.0.1:{port}/app", token_line, "timeout: 10s"],
            )

        good = config("good.yml", f"acme-token: {token}")
        run(litestream, "replicate", "-once", "-config", good)
        out = work / "restored.db"
        run(litestream, "restore", "-config", good, "-o", out, db)
        assert rows(out) == rows(db)

        # A wrong token is refused by the server: the key did reach the client.
        wrong = run(litestream, "restore", "-config", config("wrong.yml", "acme-token: nope"),
                    "-o", work / "never.db", db, code=1)  # fmt: skip
        assert "denied" in wrong and "nope" not in wrong, wrong
        # A misspelled key is an error that names it.
        typo = run(litestream, "restore", "-config", config("typo.yml", f"acme-tokn: {token}"),
                   "-o", work / "never.db", db, code=1)  # fmt: skip
        assert "acme-tokn" in typo and token not in typo, typo
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_backend_from_template_installs_alone_and_passes_the_kit(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (scripts/setup installs it)")
    backend = tmp_path / "litestream-acme"
    shutil.copytree(TEMPLATE, backend, ignore=shutil.ignore_patterns("__pycache__"))
    rename(backend, "acme")
    assert ROOT not in backend.parents

    # A fresh venv (with pip, as a user has) holding litestream-core and its test extra;
    # the core's native checksum kernel is a workspace wheel too, as on PyPI.
    wheels = tmp_path / "wheels"
    for package in ("litestream-core", "litestream-wal-checksum"):
        run(uv, "build", "--package", package, "--wheel", "--out-dir", wheels, cwd=ROOT)
    (core,) = wheels.glob("litestream_core-*.whl")
    (kernel,) = wheels.glob("litestream_wal_checksum-*.whl")
    venv = tmp_path / "venv"
    run(uv, "venv", "--seed", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--python", python, f"{core}[testing]", kernel)

    run(python, "-m", "pip", "install", "--quiet", ".", cwd=backend)

    listed = json.loads(run(venv / "bin" / "litestream", "plugins", "--json"))
    (acme,) = [p for p in listed if p.get("name") == "acme"]
    assert acme.get("schemes") == ["acme"], acme
    assert acme.get("distribution") == "litestream-acme", acme
    verbose = run(venv / "bin" / "litestream", "plugins", "-v", env={"COLUMNS": "200"})
    for line in ("acme-token", "API token of the server (secret)", "timeout", "duration"):
        assert line in verbose, verbose

    # Its own YAML keys reach it: replicate to its server and restore, through a config.
    replicate_and_restore_with_own_keys(backend, venv, tmp_path)

    # The file plugin, copied out of the workspace, installs the same way (uv refuses a
    # pyproject that names a workspace it is not in).
    file_plugin = tmp_path / "litestream-file"
    shutil.copytree(ROOT / "plugins" / "file", file_plugin, ignore=shutil.ignore_patterns("tests"))
    run(uv, "pip", "install", "--python", python, file_plugin)
    names = {
        p.get("name") for p in json.loads(run(venv / "bin" / "litestream", "plugins", "--json"))
    }
    assert {"acme", "file"} <= names, names

    # Its own tests: the conformance kit and the server fixture, as shipped.
    report = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=backend)
    last = report.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in .*", last), report
    suite = [name for name in dir(ReplicaClientSuite) if name.startswith("test_")]
    assert int(last.split()[0]) > len(suite), f"the conformance suite did not run whole: {last}"
