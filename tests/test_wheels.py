"""`pip install litestream-core litestream-file` alone gives a working `litestream`.

Builds the two wheels from this checkout, installs only them (and their PyPI
dependencies) into a fresh virtualenv, and uses the installed command: the file backend
is found through its entry point, a database replicates and restores.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from litestream_core.testing.e2e import venv_with_wheels

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheels")
    return venv_with_wheels(ROOT, ("litestream-core", "litestream-file"), work)


def test_core_wheel_holds_only_the_core_package() -> None:
    dist = ROOT / "dist-test"
    shutil.rmtree(dist, ignore_errors=True)
    try:
        subprocess.run(
            ["uv", "build", "--package", "litestream-core", "--wheel", "--out-dir", str(dist)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=300,
        )
        (wheel,) = dist.glob("*.whl")
        tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    finally:
        shutil.rmtree(dist, ignore_errors=True)
    assert {t for t in tops if not t.endswith(".dist-info")} == {"litestream_core"}


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
