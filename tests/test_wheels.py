"""The distributions as a release uploads them, and `pip install` of them.

Builds every workspace sdist and wheel (each wheel from its sdist), checks what each
carries (license files, metadata PyPI shows, only its own package), then installs the
core and the file backend alone into a fresh virtualenv outside the workspace: the
install stays within its size target, `--version` and `python -m litestream_core` work,
and a database replicates and restores through the installed command. The same for
core + s3 through moto is in plugins/s3/tests/test_e2e.py.
"""

from __future__ import annotations

import email
import json
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from litestream_core._version import __version__
from litestream_core.testing.e2e import installed_bytes, venv_with_wheels

ROOT = Path(__file__).resolve().parent.parent
CORE_TARGET_MB = 30
"""issue 16: `pip install litestream-core` installs at most 30 MB (10^6 bytes)."""


def members() -> dict[str, str]:
    """Distribution name -> its directory in the workspace ("." for the core)."""
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    excluded = {ROOT / pattern for pattern in workspace.get("exclude", [])}  # the template
    paths = [ROOT] + [
        p.parent for g in workspace["members"]
        for p in sorted(ROOT.glob(f"{g}/pyproject.toml")) if p.parent not in excluded
    ]  # fmt: skip
    return {
        tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"]: (
            p.relative_to(ROOT).as_posix()
        )
        for p in paths
    }


MEMBERS = members()


def stem(name: str) -> str:
    return name.replace("-", "_")


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(zf.read(meta))


@pytest.fixture(scope="module")
def wheel_venv(workspace_dists: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("core-file")
    return venv_with_wheels(
        ROOT, ("litestream-core", "litestream-file"), work, dists=workspace_dists
    )


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_sdist_and_wheel_carry_license_and_notice(workspace_dists: Path, name: str) -> None:
    [wheel] = workspace_dists.glob(f"{stem(name)}-{__version__}-*.whl")
    [sdist] = workspace_dists.glob(f"{stem(name)}-{__version__}.tar.gz")
    with zipfile.ZipFile(wheel) as zf:
        info = f"{stem(name)}-{__version__}.dist-info/licenses"
        in_wheel = {f: zf.read(f"{info}/{f}") for f in ("LICENSE", "NOTICE")}
    with tarfile.open(sdist) as tf:
        top = f"{stem(name)}-{__version__}"
        in_sdist = {f: tf.extractfile(f"{top}/{f}").read() for f in ("LICENSE", "NOTICE")}
    for f in ("LICENSE", "NOTICE"):
        assert in_wheel[f] == in_sdist[f] == (ROOT / f).read_bytes(), f"{name}: {f}"


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_wheel_metadata_is_what_pypi_shows(workspace_dists: Path, name: str) -> None:
    [wheel] = workspace_dists.glob(f"{stem(name)}-{__version__}-*.whl")
    meta = wheel_metadata(wheel)
    assert meta["Name"] == name and meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE", "NOTICE"]
    assert meta["Author"] and meta["Summary"] and meta["Requires-Python"]
    assert meta["Description-Content-Type"] == "text/markdown" and meta.get_payload()
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or ())
    assert {"Homepage", "Documentation", "Changelog", "Issues", "Source"} <= set(urls)
    assert len(meta.get_all("Classifier") or ()) >= 8
    requires = {
        canonicalize_name(r.name): r for r in map(Requirement, meta.get_all("Requires-Dist") or ())
    }
    if name.startswith("litestream-") and name not in (
        "litestream-core",
        "litestream-wal-checksum",
    ):
        assert requires["litestream-core"].specifier.contains(__version__), requires


def test_twine_check_passes(workspace_dists: Path) -> None:
    """PyPI's own upload checks: metadata fields, and a readme that renders."""
    dists = sorted(workspace_dists.glob("*.whl")) + sorted(workspace_dists.glob("*.tar.gz"))
    assert len(dists) == 2 * len(MEMBERS)
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_wheel_holds_only_the_core_package(workspace_dists: Path) -> None:
    [wheel] = workspace_dists.glob(f"litestream_core-{__version__}-py3-none-any.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"litestream_core"}


def test_installed_core_is_small_and_answers(wheel_venv: Path) -> None:
    size = installed_bytes(wheel_venv) / 1e6
    assert size <= CORE_TARGET_MB, f"core + file install {size:.2f} MB"
    bin_ = wheel_venv / "bin"
    for argv in ([bin_ / "litestream", "--version"], [bin_ / "litestream", "version"]):
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        assert out.strip() == __version__
    usage = subprocess.run(
        [bin_ / "python", "-m", "litestream_core", "--help"], capture_output=True, text=True
    )
    assert usage.returncode == 0 and usage.stdout.startswith("Usage: litestream ")
    assert "replicate" in usage.stdout and "restore" in usage.stdout


def test_only_core_and_file_wheels_replicate_and_restore(wheel_venv: Path, tmp_path: Path) -> None:
    litestream = wheel_venv / "bin" / "litestream"
    listed = subprocess.run(
        [litestream, "plugins", "--json"], capture_output=True, text=True, check=True
    )
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert set(plugins) == {"file"}
    assert plugins["file"]["distribution"] == "litestream-file"
    assert plugins["file"]["schemes"] == ["file"]

    db, replica, out = tmp_path / "app.db", tmp_path / "replica", tmp_path / "out.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    proc = subprocess.Popen(
        [litestream, "replicate", str(db), f"file://{replica}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for i in range(50):
            conn.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}",))
        deadline = time.monotonic() + 60
        while not list(replica.glob("ltx/0/*.ltx")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    subprocess.run(
        [litestream, "restore", "-o", str(out), f"file://{replica}"], check=True, timeout=60
    )
    expected = conn.execute("SELECT * FROM t ORDER BY id").fetchall()
    restored = sqlite3.connect(out)
    assert restored.execute("SELECT * FROM t ORDER BY id").fetchall() == expected
    assert restored.execute("PRAGMA integrity_check").fetchone() == ("ok",)
