"""Faults around a running `litestream replicate`, through the CLI, with the writer never paused.

What tests/test_e2e.py and tests/test_engine_faults.py already cover is not repeated:
external TRUNCATE/RESTART checkpoints while the replicator is *stopped*, the meta
directory deleted while the application is paused, restores in a loop beside a writer.
Here, at the same time and all through the CLI: a fast writer that never stops, another
connection running ``wal_checkpoint(TRUNCATE)`` and ``(RESTART)`` behind the running
replicator's back, the replicator stopped or killed and its meta directory deleted while
writes continue, and restores taken in a loop. The replicator also checkpoints every
20 pages or 100 ms, so dozens of its own checkpoints race the writer (upstream PR 1337:
a commit slipping in between copying the WAL tail and the checkpoint is lost). Every
restore must be a state the source really had at a commit (checked row by row), and the
last one the source itself.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from durability_helpers import (
    OURS,
    Tool,
    caught_up,
    integrity,
    kill,
    max_txid,
    rows_of,
    stop,
    wait_for,
    write_config,
)


def row(i: int) -> tuple[int, bytes, int]:
    """Row ``i`` is a pure function of ``i``, so any restored state can be checked."""
    rng = random.Random(i)
    size = rng.choice((50, 300, 3000, 20000))  # some rows spill into overflow pages
    return (i, rng.randbytes(size), i)


def batch_sizes() -> Iterator[int]:
    """Rows per transaction, in order: a fixed sequence, so commit boundaries are known."""
    rng = random.Random(1)
    while True:
        yield rng.randint(1, 4)


def is_commit_boundary(k: int) -> bool:
    total, sizes = 0, batch_sizes()
    while total < k:
        total += next(sizes)
    return total == k


class Writer(threading.Thread):
    """Inserts 1-4 rows per transaction as fast as it can."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.stop = threading.Event()
        self.count = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        sizes = batch_sizes()
        try:
            while not self.stop.is_set():
                rows = [row(self.count + k + 1) for k in range(next(sizes))]
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO t (id, v, n) VALUES (?, ?, ?)", rows)
                conn.execute("COMMIT")
                self.count += len(rows)
        except BaseException as exc:
            self.error = exc
        finally:
            conn.close()


class Checkpointer(threading.Thread):
    """Another connection forcing TRUNCATE and RESTART checkpoints behind the replicator."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.stop = threading.Event()
        self.results: list[tuple[str, int]] = []  # (mode, busy flag)

    def run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout=200")
        try:
            while not self.stop.wait(0.03):
                mode = ("TRUNCATE", "RESTART")[len(self.results) % 2]
                busy = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()[0]
                self.results.append((mode, busy))
        finally:
            conn.close()

    def successes(self) -> int:
        return sum(1 for _, busy in self.results if busy == 0)


def committed_state(path: Path) -> bool:
    """True if the restored rows are exactly rows 1..k for a k the writer committed at."""
    rows = rows_of(path)
    return is_commit_boundary(len(rows)) and rows == [row(i) for i in range(1, len(rows) + 1)]


def test_checkpoints_behind_our_back_meta_dir_loss_and_restores_under_load(tmp_path):
    tool = Tool("ours", OURS)
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    meta = tmp_path / ".app.db-litestream"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, n INT)")
    conn.close()
    cfg = write_config(
        tmp_path, db, replica, min_checkpoint_page_count=20, checkpoint_interval="100ms"
    )
    writer, checkpointer = Writer(db), Checkpointer(db)
    proc = tool.replicate(cfg)
    writer.start()
    checkpointer.start()
    restores = 0
    try:
        wait_for(lambda: max_txid(replica) > 0, 60, "first upload")
        for n in range(12):
            if n % 4 == 3:  # restart with the local state gone, writes continuing
                if n % 8 == 3:
                    kill(proc)
                else:
                    assert stop(proc) == 0
                shutil.rmtree(meta)
                # With no read lock left, an external checkpoint resets the WAL for sure.
                done = checkpointer.successes()
                wait_for(lambda d=done: checkpointer.successes() > d, 30, "external checkpoint")
                proc = tool.replicate(cfg)
                uploaded = max_txid(replica)
                wait_for(lambda u=uploaded: max_txid(replica) > u, 60, "upload after restart")
            out = tmp_path / f"loop-{n}.db"
            result = tool.run("restore", "-o", str(out), f"file://{replica}")
            assert result.returncode == 0, result.stderr
            assert integrity(out) == ["ok"]
            assert committed_state(out), f"restore {n} is not a committed state"
            out.unlink()
            restores += 1
    finally:
        writer.stop.set()
        writer.join()
        checkpointer.stop.set()
        checkpointer.join()
    assert writer.error is None, writer.error
    try:
        wait_for(lambda: caught_up(db, meta), 60, "caught up")
        wait_for(lambda: max_txid(replica) >= max_txid(meta), 60, "final upload")
    finally:
        code = stop(proc)
    assert code == 0
    assert restores == 12 and writer.count > 200
    assert {mode for mode, busy in checkpointer.results if busy == 0} == {"TRUNCATE", "RESTART"}
    out = tmp_path / "final.db"
    result = tool.run("restore", "-o", str(out), "-integrity-check", "full", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert rows_of(out) == [row(i) for i in range(1, writer.count + 1)]
