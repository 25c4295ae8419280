"""A store of many databases: work per database must not grow with their number."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from litestream_core.engine.db import DB
from litestream_core.engine.store import Entry, Store


def make_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t (v)")
    conn.close()


def readlinks_to_open(tmp_path: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """``os.readlink`` calls made while a store opens ``n`` databases."""
    paths = []
    for i in range(n):
        paths.append(tmp_path / f"{n}-{i}.db")
        make_db(paths[-1])
    calls = 0
    real = os.readlink

    def counting(path: str | os.PathLike[str], **kwargs: object) -> str:
        nonlocal calls
        calls += 1
        return real(path, **kwargs)  # type: ignore[arg-type]

    async def main() -> None:
        store = Store([Entry(DB(p), None) for p in paths])
        with monkeypatch.context() as m:
            m.setattr(os, "readlink", counting)
            await store.open(run=False)
        await store.close(final_sync=False)

    asyncio.run(main())
    return calls


def test_opening_n_databases_is_linear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each database's check for another SQLite in the process used to list every
    descriptor of the process, which grows with the databases already open: O(N^2)."""
    small, large = 8, 32
    per_db_small = readlinks_to_open(tmp_path, small, monkeypatch) / small
    per_db_large = readlinks_to_open(tmp_path, large, monkeypatch) / large
    # Quadratic work makes the per-database cost grow with N (about 4x here).
    assert per_db_large <= per_db_small * 1.5 + 1


def test_sigterm_with_a_thousand_databases_exits_within_the_timeout(tmp_path: Path) -> None:
    """SIGTERM while a thousand databases replicate (some still starting): the final
    sync is bounded by shutdown-sync-timeout, and the process exits cleanly."""
    template = tmp_path / "template.db"
    make_db(template)
    data = template.read_bytes()
    timeout = 10
    lines = [f"shutdown-sync-timeout: {timeout}s", "dbs:"]
    dbs = []
    for i in range(1000):
        db = tmp_path / f"db{i:04d}.db"
        db.write_bytes(data)
        dbs.append(db)
        lines += [f"  - path: {db}", "    replica:", f"      url: file://{tmp_path}/r{i:04d}"]
    config = tmp_path / "litestream.yml"
    config.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("litestream")), "replicate", "-config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while sum((tmp_path / f"r{i:04d}" / "ltx" / "0").is_dir() for i in range(0, 1000, 10)) < 20:
            assert proc.poll() is None and time.monotonic() < deadline, "replication never began"
            time.sleep(0.2)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=timeout + 20)
        elapsed = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert elapsed < timeout + 10
