"""A database deleted and recreated, or replaced with ``mv``, under a running replicator.

The replicator must notice (the file at the path is not the one it holds), say so, and
replicate the new database from a fresh snapshot without a restart, with nothing of the
old one mixed in; it must also stop cleanly afterwards. Restores (ours and Go's) then
give exactly the new database.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).with_name("litestream")


def make_db(path: Path, tag: str, rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, tag TEXT, v BLOB)")
    add_rows(conn, tag, rows)
    return conn


def add_rows(conn: sqlite3.Connection, tag: str, rows: int) -> None:
    for i in range(rows):
        conn.execute("INSERT INTO t (tag, v) VALUES (?, randomblob(?))", (tag, 200 + 50 * i))


def contents(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return conn.execute("SELECT id, tag, v FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def restored(replica: Path, out: Path, binary: Path = BIN) -> list[tuple[object, ...]] | None:
    for suffix in ("", "-wal", "-shm"):  # a stale -wal would pair with the next restore
        Path(f"{out}{suffix}").unlink(missing_ok=True)
    done = subprocess.run(
        [str(binary), "restore", "-o", str(out), f"file://{replica}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        return None
    return contents(out)


def wait_for_restore(
    replica: Path, out: Path, want: list[tuple[object, ...]], timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = restored(replica, out)
        if got == want:
            return
        time.sleep(0.3)
    tags = sorted({row[1] for row in got or []})
    raise AssertionError(f"replica did not follow within {timeout}s; restored tags {tags}")


@pytest.fixture
def replicator(tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[str], Path]]:
    db, replica, log = tmp_path / "app.db", tmp_path / "replica", tmp_path / "replicate.log"
    config = tmp_path / "litestream.yml"
    config.write_text(
        f"dbs:\n  - path: {db}\n    monitor-interval: 100ms\n"
        f"    replica:\n      url: file://{replica}\n      sync-interval: 100ms\n"
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN), "replicate", "-config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield db, replica, proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _same(path: str, st: os.stat_result) -> bool:
    try:
        return os.path.samestat(os.stat(path), st)
    except FileNotFoundError:
        return False


def stop(proc: subprocess.Popen[str]) -> int:
    proc.terminate()
    return proc.wait(60)


def test_deleted_and_recreated_after_a_gap(
    replicator: tuple[Path, Path, subprocess.Popen[str], Path], tmp_path: Path, go_litestream: Path
) -> None:
    db, replica, proc, log = replicator
    out = tmp_path / "out.db"
    old = make_db(db, "old", 30)
    wait_for_restore(replica, out, contents(db))
    old.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    time.sleep(2)  # the path stays missing for a while, as in the issue

    new = make_db(db, "new", 5)
    wait_for_restore(replica, out, contents(db))
    add_rows(new, "newer", 3)  # and it keeps following the new database
    wait_for_restore(replica, out, contents(db))
    want = contents(db)
    new.close()

    assert stop(proc) == 0
    text = log.read_text()
    assert "database file was deleted" in text
    assert "a database is at the path again" in text
    assert "Traceback" not in text and "no valid header" not in text
    assert restored(replica, out) == want
    assert restored(replica, out, go_litestream) == want


def test_replaced_with_mv(
    replicator: tuple[Path, Path, subprocess.Popen[str], Path], tmp_path: Path, go_litestream: Path
) -> None:
    db, replica, proc, log = replicator
    out = tmp_path / "out.db"
    old = make_db(db, "old", 40)
    wait_for_restore(replica, out, contents(db))
    staged = tmp_path / "staged.db"
    make_db(staged, "new", 4).close()  # a complete database, its WAL checkpointed away
    add_rows(old, "old-late", 2)
    old.close()
    old_wal = os.stat(f"{db}-wal")
    os.replace(staged, db)

    # The replicator alone now holds the old database's -wal and -shm. Any SQLite that
    # opened the new file while they are at its path would read the old WAL's pages
    # over it, so they must go (checkpointed into the old file), and only then may the
    # new file be opened, by the replicator or anyone.
    deadline = time.monotonic() + 10
    while _same(f"{db}-wal", old_wal):
        assert time.monotonic() < deadline, "the old database's -wal is still there"
        time.sleep(0.05)
    wait_for_restore(replica, out, contents(db))
    new = sqlite3.connect(db, isolation_level=None, timeout=10)
    add_rows(new, "newer", 3)
    wait_for_restore(replica, out, contents(db))
    want = contents(db)
    assert {row[1] for row in want} == {"new", "newer"}
    new.close()

    assert stop(proc) == 0
    text = log.read_text()
    assert "database file was replaced" in text
    assert "Traceback" not in text and "no valid header" not in text
    assert restored(replica, out) == want
    assert restored(replica, out, go_litestream) == want


def test_replaced_while_the_old_database_is_still_open(
    replicator: tuple[Path, Path, subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    """An application still using the old file keeps its -wal/-shm in use: the
    replicator waits, then follows the new file once they are gone."""
    db, replica, proc, log = replicator
    out = tmp_path / "out.db"
    old = make_db(db, "old", 10)
    wait_for_restore(replica, out, contents(db))
    staged = tmp_path / "staged.db"
    make_db(staged, "new", 4).close()
    want = contents(staged)
    os.replace(staged, db)
    deadline = time.monotonic() + 10
    while "still in use by another process" not in log.read_text():
        assert time.monotonic() < deadline, "the replicator did not notice"
        time.sleep(0.05)
    add_rows(old, "old-late", 1)  # the old file lives on for its application
    old.close()  # the last connection to it: SQLite removes its -wal and -shm
    wait_for_restore(replica, out, want)
    assert stop(proc) == 0
