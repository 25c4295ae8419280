"""Checks that a backend serves the read paths (the VFS and ``restore -f``): for backend
test suites.

A backend needs nothing specific for them (listings and range reads are the contract),
but they lean on it harder than restore does, so each backend's tests run these against
its real server: our ``replicate -once`` writes a history batch by batch; the VFS must
read every batch's state at its time, the newest state, and keep a read transaction's
snapshot while new files arrive; a follower must catch up with each batch.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestream_core.testing.e2e import OUR_LITESTREAM, write_config

QUERIES = (
    "SELECT count(*), sum(length(v)), max(id) FROM t",
    "SELECT id, v FROM t WHERE id % 7 = 3 ORDER BY id",
)


@dataclass
class History:
    """A source database replicated batch by batch, with each batch's time and answers."""

    db: Path
    config: Path
    env: Mapping[str, str] | None
    marks: list[tuple[datetime, list[list[tuple[Any, ...]]]]] = field(default_factory=list)

    def add_batch(self, rows: int, size: int = 500) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
            for _ in range(rows):
                conn.execute("INSERT INTO t (v) VALUES (randomblob(?))", (size,))
            answers = [conn.execute(q).fetchall() for q in QUERIES]
        finally:
            conn.close()
        proc = subprocess.run(
            [str(OUR_LITESTREAM), "replicate", "-once", "-config", str(self.config)],
            capture_output=True, text=True, timeout=120,
            env=None if self.env is None else dict(self.env),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        self.marks.append((datetime.now(UTC), answers))
        time.sleep(0.05)  # the next batch's files are stamped later than this mark


def make_history(
    tmp_path: Path, replica: Sequence[str], env: Mapping[str, str] | None, batches: int = 3
) -> History:
    """Replicate ``batches`` batches to the replica described by config lines ``replica``."""
    db = tmp_path / "vfs-src.db"
    config = write_config(tmp_path / "vfs.yml", db, replica)
    history = History(db, config, env)
    for batch in range(batches):
        history.add_batch(20 + 10 * batch, size=300 + 2000 * batch)
    return history


def answers(conn: Any) -> list[list[tuple[Any, ...]]]:
    return [list(conn.execute(q)) for q in QUERIES]


def check_vfs(url: str, options: Mapping[str, Any], history: History) -> None:
    """The newest state, each batch's state by time travel, and a pinned snapshot."""
    from litestream_core.vfs import open_replica

    conn = open_replica(url, options=options)
    try:
        assert answers(conn) == history.marks[-1][1]
        assert list(conn.execute("PRAGMA integrity_check")) == [("ok",)]
    finally:
        conn.close()
    for when, expected in history.marks:
        conn = open_replica(url, options=options, timestamp=when)
        try:
            assert answers(conn) == expected, f"state at {when.isoformat()}"
        finally:
            conn.close()

    reader = open_replica(url, options=options, poll_interval=0.1)
    watcher = open_replica(url, options=options, poll_interval=0.1)
    try:
        reader.execute("BEGIN")
        before = answers(reader)
        history.add_batch(15)
        deadline = time.monotonic() + 30
        while answers(watcher) != history.marks[-1][1]:
            assert time.monotonic() < deadline, "the VFS did not see the new batch"
            time.sleep(0.1)
        time.sleep(0.3)  # the reader's database has polled by now too
        assert answers(reader) == before, "a read transaction's snapshot moved"
        reader.execute("COMMIT")
        assert answers(reader) == history.marks[-1][1]
    finally:
        reader.close()
        watcher.close()


def check_follow(history: History, tmp_path: Path) -> None:
    """``restore -f`` through the config of ``history`` follows two more batches."""
    out = tmp_path / "follower.db"
    log = tmp_path / "follower.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(
            [str(OUR_LITESTREAM), "restore", "-f", "-follow-interval", "100ms", "-o", str(out),
             "-config", str(history.config), str(history.db)],
            stdout=f, stderr=subprocess.STDOUT,
            env=None if history.env is None else dict(history.env),
        )  # fmt: skip
    try:
        for rows in (10, 12):
            history.add_batch(rows)
            deadline = time.monotonic() + 30
            while _answers_of(out) != history.marks[-1][1]:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"the follower fell behind:\n{log.read_text()}"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()


def _answers_of(path: Path) -> list[list[tuple[Any, ...]]] | None:
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [conn.execute(q).fetchall() for q in QUERIES]
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
