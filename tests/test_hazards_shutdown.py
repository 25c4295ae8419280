"""Hazard 28 and the S3 shutdown hang: SIGTERM while a storage request hangs.

A storage server that accepts connections but never answers holds a blocking SDK
call for its read timeout times its retries (minutes). SIGTERM must still end our
``litestream replicate`` promptly, during start-up as well as during an upload,
and the database must be left intact. The storage here is moto (a real S3 server)
behind a proxy that can stop forwarding without closing anything.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from e2e_helpers import make_bucket, s3_env

from litestream_core.testing.e2e import Replicate, rows, wait_for, write_config
from litestream_core.testing.fault_proxy import FaultProxy
from litestream_core.testing.servers import free_port

STOP_WITHIN = 20.0
"""Seconds a SIGTERM may take; the SDK's own timeouts alone would take minutes."""


def app_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
    conn.execute("INSERT INTO t (body) VALUES (randomblob(5000))")
    return conn


def start(tmp_path: Path, db: Path, endpoint: str) -> Replicate:
    replica = ["type: s3", "bucket: hang", "path: app/db", f"endpoint: {endpoint}"]
    cfg = write_config(tmp_path / "litestream.yml", db, replica,
                       top=["shutdown-sync-timeout: 3s"])  # fmt: skip
    return Replicate(cfg, tmp_path / "replicate.log", env=s3_env())


def sigterm_exit_code(rep: Replicate) -> int:
    rep.proc.send_signal(signal.SIGTERM)
    try:
        return rep.proc.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        rep.proc.send_signal(signal.SIGUSR1)  # every thread's stack into the log
        time.sleep(1)
        rep.proc.kill()
        rep.proc.wait()
        pytest.fail(f"no exit within {STOP_WITHIN} s of SIGTERM:\n{rep.output()}")


def test_sigterm_during_start_up_while_storage_hangs(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    conn = app_db(db)
    proxy = FaultProxy(free_port())  # a storage server that never answers
    proxy.stall()
    try:
        rep = start(tmp_path, db, proxy.endpoint)
        wait_for(lambda: proxy.connections > 0, "replicate never contacted storage")
        time.sleep(0.5)
        assert sigterm_exit_code(rep) == 0, rep.output()
        assert "stopped during start-up" in rep.output()
    finally:
        proxy.close()
    conn.execute("INSERT INTO t (body) VALUES (randomblob(5000))")  # db still usable
    conn.close()
    assert len(rows(db)) == 2


def test_sigterm_during_a_hung_upload_ends_after_the_shutdown_timeout(
    tmp_path: Path, moto_port: int
) -> None:
    make_bucket(moto_port, "hang")
    db = tmp_path / "app.db"
    conn = app_db(db)
    proxy = FaultProxy(moto_port)
    try:
        rep = start(tmp_path, db, proxy.endpoint)
        wait_for(lambda: "replicating database" in rep.output(), "replicate did not start")
        time.sleep(0.5)
        proxy.stall()
        for _ in range(20):  # uploads of these now hang
            conn.execute("INSERT INTO t (body) VALUES (randomblob(5000))")
        time.sleep(0.5)
        rep.assert_running("while storage hangs")
        code = sigterm_exit_code(rep)
        assert code == 1, rep.output()
        assert "final sync" in rep.output()
    finally:
        proxy.close()
    conn.close()
    assert len(rows(db)) == 21  # nothing lost locally, the database is intact
