"""Two replicas of one database, a file replica and moto S3, through a real S3 outage.

The replicator is our CLI with a config; S3 is moto's server behind a FaultProxy that
refuses every connection for the outage (what a stopped server looks like to a client),
while the application keeps writing. The file replica must stay current throughout, S3
must catch up by itself once it is back, and each must restore to the source.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from network_backends import start_backend

from litestream_core.testing.e2e import OUR_LITESTREAM, Replicate

OUTAGE = 8.0
"""Seconds S3 refuses connections (the issue's minute, shortened; the mechanism is the same)."""


def rows(path: Path) -> list[tuple[int, bytes]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def said(output: str, *parts: str) -> bool:
    """Whether one log line holds every part."""
    return any(all(p in line for p in parts) for line in output.splitlines())


def until(condition: Callable[[], bool], what: str, log: Callable[[], str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:g}s\n{log()[-4000:]}")
        time.sleep(0.2)


def test_file_replica_stays_current_while_s3_is_down_and_s3_catches_up(tmp_path):
    backend = start_backend("s3", tmp_path / "server")
    db, config = tmp_path / "app.db", tmp_path / "litestream.yml"
    s3 = [f"      {line}" for line in backend.replica]
    s3[0] = "    - " + s3[0].lstrip()
    config.write_text(
        "\n".join([
            "dbs:",
            f"  - path: {db}",
            "    monitor-interval: 100ms",
            "    replicas:",
            f"      - path: {tmp_path / 'file-replica'}",
            "        sync-interval: 100ms",
            *("  " + line for line in s3),
            "        sync-interval: 100ms",
        ]) + "\n"
    )  # fmt: skip
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    restored = iter(range(1000))

    def restore(*args: str) -> list[tuple[int, bytes]] | None:
        out = tmp_path / f"restored-{next(restored)}.db"
        done = subprocess.run(
            [str(OUR_LITESTREAM), "restore", "-config", str(config), "-o", str(out), *args,
             str(db)],
            capture_output=True, text=True, env=backend.env, timeout=120,
        )  # fmt: skip
        return rows(out) if done.returncode == 0 else None

    def write(n: int) -> None:
        for _ in range(n):
            app.execute("INSERT INTO t (body) VALUES (randomblob(2000))")

    rep = Replicate(config, tmp_path / "replicate.log", env=backend.env)
    try:
        until(
            lambda: rep.output().count('msg="replicating database"') == 2, "start", rep.output, 60
        )
        write(20)
        for name in ("file", "s3"):
            until(lambda n=name: restore("-replica", n) == rows(db), f"{name} current",
                  rep.output, 30)  # fmt: skip

        backend.proxy.refuse()  # S3 is gone: connections refused
        started = time.monotonic()
        while time.monotonic() - started < OUTAGE:
            write(5)
            time.sleep(0.25)
        # The file replica kept up during the outage; S3 did not.
        until(lambda: restore("-replica", "file") == rows(db), "file current during the outage",
              rep.output, 20)  # fmt: skip
        assert said(rep.output(), 'msg="could not upload to the replica; retrying"', "replica=s3")
        write(5)
        until(lambda: restore("-replica", "file") == rows(db), "file current", rep.output, 20)
        # Without -replica, the restore skips the unreachable S3 and takes the file replica.
        assert restore() == rows(db)

        backend.proxy.heal()
        until(lambda: restore("-replica", "s3") == rows(db), "s3 caught up", rep.output, 60)
        write(10)
        rep.stop()  # its final sync reaches both
        source = rows(db)
        assert restore("-replica", "file") == source
        assert restore("-replica", "s3") == source
        assert restore() == source
        assert said(rep.output(), 'msg="replication works again"', "replica=s3")
        assert "catch-up window" not in rep.output()  # S3 caught up from the local files
    finally:
        if rep.proc.poll() is None:
            rep.proc.kill()
            rep.proc.wait()
        app.close()
        backend.close()
