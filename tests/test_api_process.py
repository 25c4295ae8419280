"""The embedding API with the application writing through the stdlib ``sqlite3`` module
in the test process itself: the real embedding case, safe only because the engine
runs in a replication process of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import apsw
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import Writer, rows_of

from litestream_core import api
from litestream_core.engine.db import DBSettings
from litestream_core.engine.replica import ReplicaSettings
from litestream_core.errors import ConfigError, DatabaseError, LitestreamError
from litestream_core.events import (
    Event,
    LTXFileUploaded,
    LTXFileWritten,
    ReplicaStarted,
    ReplicaStopped,
)
from litestream_core.hookspecs import hookimpl
from litestream_core.plugins import get_plugin_manager
from litestream_core.testing.memory import MemoryReplicaClient

FAST = {
    "db_settings": DBSettings(monitor_interval=0.05),
    "replica_settings": ReplicaSettings(sync_interval=0.02),
}


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet has exited: not alive)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def replication_children() -> set[int]:
    """Live replication processes whose parent is this test process."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"api._child" in cmdline:
            found.add(int(stat.parent.name))
    return found


def test_wait_for_sync_then_restore_equals_the_source_exactly(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db, seed=3)

    async def main() -> int:
        async with api.replicate(db, f"file://{replica}", **FAST) as r:
            assert isinstance(r, api.ProcessReplication) and r.pid != os.getpid()
            for n in range(4):
                writer.step(40)
                if n == 2:
                    writer.vacuum()
                txid = await r.wait_for_sync(timeout=30)
                # No sleep: everything committed before the call is on the replica now.
                out = tmp_path / f"restored-{n}.db"
                result = await api.restore(f"file://{replica}", out)
                assert result.txid == txid and rows_of(out) == writer.rows()
            status = await r.status()
            assert status.replica_txid == status.local_txid == r.txid == txid
            assert status.pid == r.pid
            return txid

    last = asyncio.run(main())
    out = tmp_path / "final.db"
    assert api.restore_sync(f"file://{replica}", out).txid == last
    assert rows_of(out) == writer.rows() and integrity(out) == "ok"
    writer.close()


def test_app_checkpoints_in_process_cannot_run_through_the_read_lock(tmp_path):
    """In the application's process, ``wal_checkpoint(TRUNCATE)`` through the stdlib
    module would succeed through an in-process engine's read lock; with the engine in
    its own process SQLite's locks hold, and the replica stays exact."""
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db, seed=5)
    writer.step(20)
    checkpointer = sqlite3.connect(db, isolation_level=None, timeout=0.05)
    refused = 0
    with api.replicate_in_background(db, f"file://{replica}", **FAST) as r:
        for n in range(12):
            writer.step(25)
            if n % 3 == 0:
                r.wait_for_sync(timeout=30)
            mode = "TRUNCATE" if n % 2 else "RESTART"
            busy, _, _ = checkpointer.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            refused += busy
        txid = r.wait_for_sync(timeout=30)
        expected = writer.rows()
    checkpointer.close()
    assert refused > 0, "the replication process's read lock never held off a checkpoint"
    out = tmp_path / "out.db"
    assert api.restore_sync(f"file://{replica}", out, integrity_check="full").txid >= txid
    assert rows_of(out) == expected and integrity(out) == "ok"
    writer.close()


def _not_a_database(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not a SQLite database, just text " * 200)
    return db, f"file://{tmp_path / 'replica'}"


def _unknown_scheme(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "app.db", "nosuchscheme://bucket/app"


def _unusable_storage(tmp_path: Path) -> tuple[Path, str]:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the replica directory should go")
    return tmp_path / "app.db", f"file://{blocker}/replica"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (_not_a_database, DatabaseError),
        (_unknown_scheme, ConfigError),
        (_unusable_storage, LitestreamError),
    ],
)
def test_startup_errors_arrive_as_the_engines_one_line_error(tmp_path, case, expected):
    db, url = case(tmp_path)
    before = replication_children()

    async def start(in_process: bool) -> BaseException:
        with pytest.raises(expected) as caught:
            async with api.replicate(db, url, in_process=in_process):
                pass
        return caught.value

    error = asyncio.run(start(in_process=False))
    assert "\n" not in str(error) and error.one_line()
    assert replication_children() == before  # the failed child was reaped
    same = asyncio.run(start(in_process=True))
    assert (type(error), error.one_line()) == (type(same), same.one_line())


def test_background_start_error_raises_in_the_caller(tmp_path):
    db, url = _not_a_database(tmp_path)
    with pytest.raises(DatabaseError) as caught:
        api.replicate_in_background(db, url)
    assert "\n" not in str(caught.value)


class MemoryBackend:
    @hookimpl
    def litestream_register_replica_clients(self, register):
        register("memory", MemoryReplicaClient.from_url, description="in this process only")


def test_backend_registered_by_hand_cannot_follow_into_the_replication_process(tmp_path):
    pm = get_plugin_manager(only=("file",))
    pm.register(MemoryBackend(), name="memory-by-hand")
    with pytest.raises(ConfigError) as caught:
        api.replicate(tmp_path / "app.db", "memory://x", pm=pm)
    assert "in_process=True" in caught.value.one_line()
    writer = Writer(tmp_path / "app.db")  # APSW only below: in-process is safe after close
    writer.step(5)
    writer.close()

    async def in_process() -> int:
        async with api.replicate(tmp_path / "app.db", "memory://x", pm=pm, in_process=True) as r:
            return await r.wait_for_sync(timeout=30)

    assert asyncio.run(in_process()) >= 1


PARENT = textwrap.dedent(
    """
    import sqlite3, sys, time
    from litestream_core import api
    from litestream_core.engine.db import DBSettings

    db, url = sys.argv[1], sys.argv[2]
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, n INT)")
    slow = DBSettings(monitor_interval=30, wake_interval=0)  # only the final sync copies
    r = api.replicate_in_background(db, url, db_settings=slow)
    r.wait_for_sync(timeout=30)
    for n in range(50):
        conn.execute("INSERT INTO t (v, n) VALUES (randomblob(300), ?)", (n,))
    print(r.status().pid, flush=True)
    time.sleep(60)
    """
)


def test_replication_process_exits_with_a_final_sync_when_the_app_dies(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    app = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(db), f"file://{replica}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = 0
    try:
        child = int(app.stdout.readline())
        assert alive(child)
        app.kill()  # SIGKILL: no atexit, no finally, nothing runs in the application
        app.wait()
        deadline = time.monotonic() + 30
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child), "the replication process outlived its application"
    finally:
        app.kill()
        app.wait()
        app.stdout.close()
        if child and alive(child):  # a failed run must not leave an orphan behind
            os.kill(child, signal.SIGKILL)
    # The 50 rows were committed (with no sync asked for, a 30 s monitor interval)
    # before the application died: the child's final sync still shipped them.
    out = tmp_path / "out.db"
    api.restore_sync(f"file://{replica}", out)
    assert rows_of(out) == rows_of(db) and len(rows_of(out)) == 50


def test_stop_ships_what_was_committed_with_a_final_sync(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db, seed=6)
    writer.step(5)
    slow = DBSettings(monitor_interval=30, wake_interval=0)  # only the final sync copies
    r = api.replicate_in_background(db, f"file://{replica}", db_settings=slow)
    writer.step(40)
    assert r.stop() is True
    out = tmp_path / "out.db"
    api.restore_sync(f"file://{replica}", out)
    assert rows_of(out) == writer.rows()
    writer.close()


def test_sigterm_to_the_replication_process_is_a_clean_stop(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db, seed=8)
    r = api.replicate_in_background(db, f"file://{replica}", **FAST)
    writer.step(30)
    pid = r.status().pid
    os.kill(pid, signal.SIGTERM)  # a service manager stopping the whole group
    assert r.stop() is True
    assert not alive(pid)
    out = tmp_path / "out.db"
    api.restore_sync(f"file://{replica}", out)
    assert rows_of(out) == writer.rows()
    writer.close()


def test_events_reach_on_event_in_order_before_the_reply(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db, seed=9)
    seen: list[Event] = []
    threads: set[int] = set()

    def on_event(event: Event) -> None:
        threads.add(threading.get_ident())
        seen.append(event)

    async def main() -> None:
        async with api.replicate(db, f"file://{replica}", on_event=on_event, **FAST) as r:
            for _ in range(10):
                writer.step(5)
                txid = await r.wait_for_sync(timeout=30)
                uploaded = [e.max_txid for e in seen if isinstance(e, LTXFileUploaded)]
                assert max(uploaded) == txid  # its upload events came before the reply

    asyncio.run(main())
    assert threads == {threading.get_ident()}  # on the loop that started replication
    assert all(isinstance(e, Event) for e in seen)
    assert isinstance(seen[0], ReplicaStarted) and isinstance(seen[-1], ReplicaStopped)
    written = [e.max_txid for e in seen if isinstance(e, LTXFileWritten) and e.level == 0]
    uploaded = [e.max_txid for e in seen if isinstance(e, LTXFileUploaded)]
    assert written == sorted(set(written)) and uploaded == sorted(set(uploaded))
    assert set(uploaded) <= set(written) | {0}
    writer.close()


def test_in_process_opt_in_for_apps_writing_through_apsw(tmp_path):
    """APSW shares the engine's SQLite library, so in-process locking is coherent."""
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    conn = apsw.Connection(str(db))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, n INT)")
    with api.replicate_in_background(db, f"file://{replica}", in_process=True, **FAST) as r:
        assert r.status().pid is None
        for n in range(30):
            conn.execute("INSERT INTO t (v, n) VALUES (randomblob(100), ?)", (n,))
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        txid = r.wait_for_sync(timeout=30)
    expected = list(conn.execute("SELECT id, v, n FROM t ORDER BY id"))
    conn.close()
    out = tmp_path / "out.db"
    assert api.restore_sync(f"file://{replica}", out).txid == txid
    assert rows_of(out) == expected
