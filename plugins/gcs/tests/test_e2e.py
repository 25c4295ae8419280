"""End to end over GCS: our `litestream replicate` and `restore` with a YAML config,
against fake-gcs-server, including a server restart in the middle of replication."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

LITESTREAM = Path(sys.executable).with_name("litestream")


class App:
    """The application: autocommit inserts of multi-page rows, in WAL mode."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")

    def write(self, n: int, pause: float = 0.0) -> None:
        for _ in range(n):
            self.conn.execute("INSERT INTO t (body) VALUES (randomblob(6000))")
            time.sleep(pause)

    def close(self) -> None:
        self.conn.close()


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def write_config(tmp_path: Path, db: Path, bucket: str) -> Path:
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        "shutdown-sync-timeout: 30s\n"
        f"dbs:\n  - path: {db}\n    monitor-interval: 50ms\n    replica:\n"
        f"      url: gs://{bucket}/app/db\n      sync-interval: 100ms\n"
    )
    return cfg


# Our CLI's entry point, with every thread's stack dumped on SIGUSR1 for hang reports.
DIAGNOSABLE = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True);"
    "sys.argv[0] = 'litestream'; from litestream_core.cli import main; main()"
)


def start_replicate(cfg: Path, log: Path, server) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", DIAGNOSABLE, "replicate", "-config", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"STORAGE_EMULATOR_HOST": server.endpoint},
        )


def stop_replicate(proc: subprocess.Popen[bytes], log: Path) -> None:
    assert proc.poll() is None, f"replicate exited early:\n{log.read_text()}"
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        proc.kill()
        proc.wait()
        pytest.fail(f"replicate did not stop within 60 s of SIGTERM:\n{log.read_text()}")
    assert code == 0, log.read_text()


def restore(cfg: Path, db: Path, out: Path, server) -> None:
    proc = subprocess.run(
        [str(LITESTREAM), "restore", "-config", str(cfg), "-o", str(out), str(db)],
        capture_output=True,
        text=True,
        env=os.environ | {"STORAGE_EMULATOR_HOST": server.endpoint},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def object_names(server, bucket: str) -> set[str]:
    return {b.name for b in server.sdk_client().list_blobs(bucket, prefix="app/db/")}


def wait_for_objects(server, bucket: str, minimum: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(object_names(server, bucket)) >= minimum:
            return
        time.sleep(0.1)
    pytest.fail(f"fewer than {minimum} objects replicated in 30 s")


def test_replicate_and_restore_with_yaml_config(gcs, tmp_path):
    bucket = gcs.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket)
    log = tmp_path / "replicate.log"
    proc = start_replicate(cfg, log, gcs)
    try:
        wait_for_objects(gcs, bucket, 1)
        app.write(40, pause=0.01)
    finally:
        stop_replicate(proc, log)
    app.close()
    assert all("/ltx/" in name for name in object_names(gcs, bucket))  # Go's gs layout
    out = tmp_path / "restored.db"
    restore(cfg, db, out, gcs)
    assert rows(out) == rows(db)


def test_server_restart_mid_replication_resumes_without_gap(own_gcs, tmp_path):
    bucket = own_gcs.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket)
    log = tmp_path / "replicate.log"
    proc = start_replicate(cfg, log, own_gcs)
    try:
        wait_for_objects(own_gcs, bucket, 1)
        app.write(10)
        wait_for_objects(own_gcs, bucket, 2)
        own_gcs.stop()
        app.write(30, pause=0.05)
        assert proc.poll() is None, f"replicate died during the outage:\n{log.read_text()}"
        own_gcs.start()
        app.write(10, pause=0.02)
    finally:
        stop_replicate(proc, log)
    app.close()
    out = tmp_path / "restored.db"
    restore(cfg, db, out, own_gcs)
    assert rows(out) == rows(db)
    assert len(rows(db)) == 50
