"""Reading replicas through the VFS: every state of a history, a live replica under
compaction and retention, snapshots held by long transactions, and time travel."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import apsw
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import make_history, replica_max_txid, wait_for

from litestream_core.testing.e2e import Replicate
from litestream_core.testing.memory import MemoryReplicaClient
from litestream_core.vfs import open_replica
from litestream_core.vfs.functions import parse_when

QUERIES = (
    "SELECT count(*), sum(length(v)), max(id) FROM t",
    "SELECT id, v FROM t WHERE id % 3 = 1 ORDER BY id",
)


def source_answers(path: Path | bytes, tmp_path: Path) -> list[list[tuple]]:
    if isinstance(path, bytes):
        db = tmp_path / "state.db"
        db.write_bytes(path)
        path = db
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [conn.execute(q).fetchall() for q in QUERIES]
    finally:
        conn.close()


def vfs_answers(conn: apsw.Connection) -> list[list[tuple]]:
    return [list(conn.execute(q)) for q in QUERIES]


def test_every_state_of_a_history_reads_like_the_database(tmp_path):
    """Inserts, deletes and a VACUUM that shrinks the file, each read at its time."""
    chain = asyncio.run(make_history(tmp_path))
    for txid, state in chain.states.items():
        when = datetime.fromtimestamp((1_700_000_000_000 + txid * 1000) / 1000, UTC)
        client = MemoryReplicaClient(chain.client.store)
        conn = open_replica("memory://", client=client, timestamp=when)
        try:
            assert vfs_answers(conn) == source_answers(state, tmp_path)
            assert list(conn.execute("PRAGMA integrity_check")) == [("ok",)]
            assert list(conn.execute("SELECT litestream_txid()")) == [(f"{txid:016x}",)]
            assert list(conn.execute("PRAGMA litestream_txid")) == [(f"{txid:016x}",)]
        finally:
            conn.close()


def test_writes_are_refused(tmp_path):
    chain = asyncio.run(make_history(tmp_path, n=2))
    conn = open_replica("memory://", client=MemoryReplicaClient(chain.client.store))
    with pytest.raises(apsw.ReadOnlyError):
        conn.execute("INSERT INTO t (v) VALUES (1)")
    assert list(conn.execute("SELECT count(*) FROM t")) == [(1,)]
    conn.close()


class Writer:
    """Autocommit transactions of the application, with a row counter kept beside."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")

    def write(self, count: int, size: int = 300) -> None:
        for _ in range(count):
            self.conn.execute("INSERT INTO t (v) VALUES (randomblob(?))", (size,))

    def answers(self) -> list[list[tuple]]:
        return [self.conn.execute(q).fetchall() for q in QUERIES]


def compacting_config(tmp_path: Path, db: Path, replica: Path) -> Path:
    """Fast compaction, snapshots and retention, so files come and go within seconds."""
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        "levels:\n  - interval: 1s\n  - interval: 2s\n"
        "snapshot:\n  interval: 2s\n  retention: 2s\n"
        "l0-retention: 1s\nl0-retention-check-interval: 1s\n"
        f"dbs:\n  - path: {db}\n    monitor-interval: 50ms\n"
        f"    replica:\n      url: file://{replica}\n      sync-interval: 100ms\n"
    )
    return cfg


def test_live_replica_reads_equal_the_source_across_compaction_and_retention(tmp_path):
    db, replica = tmp_path / "src.db", tmp_path / "replica"
    writer = Writer(db)
    writer.write(50)
    repl = Replicate(compacting_config(tmp_path, db, replica), tmp_path / "replicate.log")
    try:
        wait_for(lambda: replica_max_txid(replica) > 0)
        conn = open_replica(f"file://{replica}", poll_interval=0.1)
        first_files = {p.name for p in replica.glob("ltx/0/*.ltx")}
        for round_ in range(8):
            writer.write(40, size=200 + round_ * 400)
            expected = writer.answers()
            deadline = time.monotonic() + 20
            while (got := vfs_answers(conn)) != expected:
                assert time.monotonic() < deadline, f"round {round_}: the VFS did not catch up"
                time.sleep(0.1)
            time.sleep(0.5)  # let compaction and retention run between rounds
        assert list(conn.execute("PRAGMA integrity_check")) == [("ok",)]
        assert next(iter(conn.execute("SELECT litestream_lag()")))[0] in (0, 1)
        gone = first_files - {p.name for p in replica.glob("ltx/0/*.ltx")}
        assert gone, "retention removed files the first state was read from"
        assert list(replica.glob("ltx/1/*.ltx")), "compaction ran"
        conn.close()
    finally:
        repl.stop()
    assert got == expected


def test_a_read_transaction_keeps_its_snapshot_while_files_arrive(tmp_path):
    db, replica = tmp_path / "src.db", tmp_path / "replica"
    writer = Writer(db)
    writer.write(20)
    repl = Replicate(compacting_config(tmp_path, db, replica), tmp_path / "replicate.log")
    try:
        wait_for(lambda: replica_max_txid(replica) > 0)
        reader = open_replica(f"file://{replica}", poll_interval=0.1)
        watcher = open_replica(f"file://{replica}", poll_interval=0.1)
        reader.execute("BEGIN")
        before = vfs_answers(reader)
        txid = next(iter(reader.execute("SELECT litestream_txid()")))[0]
        for _ in range(4):  # long enough for compaction and L0 retention to run
            writer.write(30)
            expected = writer.answers()
            wait_for(lambda want=expected: vfs_answers(watcher) == want, timeout=20)
            time.sleep(0.6)
            assert vfs_answers(reader) == before
            assert next(iter(reader.execute("SELECT litestream_txid()")))[0] == txid
        reader.execute("COMMIT")
        assert vfs_answers(reader) == expected
        assert next(iter(reader.execute("SELECT litestream_txid()")))[0] > txid
        reader.close()
        watcher.close()
    finally:
        repl.stop()


def test_time_travel_returns_each_past_state(tmp_path):
    from e2e_helpers import litestream

    db, replica = tmp_path / "src.db", tmp_path / "replica"
    writer = Writer(db)
    marks: list[tuple[datetime, list[list[tuple]]]] = []
    for batch in range(4):
        writer.write(10 + batch)
        proc = litestream("replicate", "-once", str(db), f"file://{replica}")
        assert proc.returncode == 0, proc.stderr
        marks.append((datetime.now(UTC), writer.answers()))
        time.sleep(0.05)
    url = f"file://{replica}"
    for when, expected in marks:
        conn = open_replica(url, timestamp=when)
        assert vfs_answers(conn) == expected
        conn.close()
    conn = open_replica(url)
    assert vfs_answers(conn) == marks[-1][1]
    old = list(conn.execute("SELECT litestream_set_time(?)", (marks[0][0].isoformat(),)))
    assert vfs_answers(conn) == marks[0][1]
    assert list(conn.execute("SELECT litestream_txid()")) == old
    conn.execute("SELECT litestream_set_time('LATEST')")
    assert vfs_answers(conn) == marks[-1][1]
    conn.execute(f"PRAGMA litestream_time = '{marks[1][0].isoformat()}'")  # Go's PRAGMA form
    assert vfs_answers(conn) == marks[1][1]
    conn.execute("PRAGMA litestream_time = 'LATEST'")
    assert vfs_answers(conn) == marks[-1][1]
    with pytest.raises(apsw.SQLError, match="invalid time"):
        conn.execute("SELECT litestream_set_time('next tuesday')").fetchall()
    conn.close()


def test_relative_times():
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_when("5 minutes ago", now) == datetime(2026, 5, 1, 11, 55, tzinfo=UTC)
    assert parse_when("1 day ago", now) == parse_when("yesterday", now)
    assert parse_when("LATEST", now) is None
    assert parse_when("2026-05-01T10:00:00+02:00", now) == datetime(2026, 5, 1, 8, tzinfo=UTC)


def test_connections_in_threads_read_their_own_states(tmp_path):
    chain = asyncio.run(make_history(tmp_path))
    expected = source_answers(chain.states[chain.txid], tmp_path)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            conn = open_replica("memory://", client=MemoryReplicaClient(chain.client.store))
            for _ in range(5):
                assert vfs_answers(conn) == expected
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_files_removed_by_retention_are_read_through_their_replacement(tmp_path, monkeypatch):
    from e2e_helpers import pages_of

    # Small files are otherwise kept whole in memory and need no storage reads at all.
    monkeypatch.setattr("litestream_core.vfs.pageindex.WHOLE_FILE", 0)
    chain = asyncio.run(make_history(tmp_path))
    store = chain.client.store
    expected = source_answers(chain.states[chain.txid], tmp_path)
    latest = open_replica("memory://", client=MemoryReplicaClient(store), cache_size=0)
    when = datetime.fromtimestamp((1_700_000_000_000 + 6 * 1000) / 1000, UTC)
    past = open_replica("memory://", client=MemoryReplicaClient(store), cache_size=0,
                        timestamp=when)  # fmt: skip
    assert list(past.execute("SELECT litestream_txid()")) == [(f"{6:016x}",)]

    async def compact_and_prune() -> None:
        """A snapshot of the newest state replaces every L0 file."""
        client = MemoryReplicaClient(store)
        await client.init()
        pages = pages_of(chain.states[chain.txid])
        snap = chain.encode(1, chain.txid, pages, pages, 0, 1_700_000_100_000)
        await client.write_ltx_file(9, 1, chain.txid, snap)
        await client.delete_ltx_files([f async for f in client.ltx_files(0)])
        await client.close()

    asyncio.run(compact_and_prune())
    latest.execute("BEGIN")
    assert vfs_answers(latest) == expected  # the same TXID, read through the snapshot
    latest.execute("COMMIT")
    latest.close()
    # The past state's TXID is reached by no file any more: a clear error, no wrong data.
    with pytest.raises(apsw.IOError, match="no longer holds TXID 0000000000000006"):
        vfs_answers(past)
    past.close()


def test_a_process_exits_with_a_replica_connection_left_open(tmp_path):
    """Closing happens at exit while the replica loop still runs (no hang)."""
    import subprocess

    chain = asyncio.run(make_history(tmp_path, n=3))
    replica = tmp_path / "replica"
    from litestream_file.client import FileReplicaClient

    async def copy() -> None:
        dst = FileReplicaClient(replica)
        async for info in chain.client.ltx_files(0):
            stream = await chain.client.open_ltx_file(0, info.min_txid, info.max_txid)
            async with stream:
                await dst.write_ltx_file(0, info.min_txid, info.max_txid, await stream.readall())

    asyncio.run(copy())
    script = (
        "from litestream_core.vfs import open_replica\n"
        f"conn = open_replica('file://{replica}', poll_interval=0.05)\n"
        "print(list(conn.execute('SELECT count(*) FROM t')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[(1,)]"  # after the VACUUM of make_history
