"""End to end on the file backend: real SQLite, an application writing beside us.

The application uses the stdlib sqlite3 module (SQLite 3.40 here) with its default
auto-checkpoint, exactly as a user's program would.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import (
    Writer,
    litestream,
    replica_max_txid,
    rows_of,
    run_replicate,
    stop_process,
    wait_for,
    wait_for_upload,
    write_config,
)

from litestream_core import api
from litestream_core.engine.db import DBSettings
from litestream_core.engine.replica import ReplicaSettings

FAST_DB = DBSettings(monitor_interval=0.05)
FAST_REPLICA = ReplicaSettings(sync_interval=0.02)


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_mixed_workload_restores_every_recorded_txid_and_time(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    history: list[tuple[int, datetime, list[tuple]]] = []

    async def main():
        async with api.replicate(db, f"file://{replica}", db_settings=FAST_DB,
                                 replica_settings=FAST_REPLICA) as r:  # fmt: skip
            for i in range(60):
                writer.step(random.Random(i).randint(1, 60))  # ~1800 transactions
                if i == 25:
                    writer.vacuum()
                txid = await r.wait_for_sync(timeout=30)
                await asyncio.sleep(0.005)
                history.append((txid, datetime.now(UTC), writer.rows()))
                await asyncio.sleep(0.005)

    asyncio.run(main())
    final = writer.rows()
    writer.close()
    assert writer.count > 1000 and len({txid for txid, _, _ in history}) > 30

    out = tmp_path / "latest.db"
    api.restore_sync(f"file://{replica}", out, integrity_check="full")
    assert rows_of(out) == final
    for n, (txid, when, rows) in enumerate(history[::4]):
        by_txid = tmp_path / f"txid-{n}.db"
        result = api.restore_sync(f"file://{replica}", by_txid, txid=txid)
        assert result.txid == txid and rows_of(by_txid) == rows
        assert integrity(by_txid) == "ok"
        by_time = tmp_path / f"time-{n}.db"
        result = api.restore_sync(f"file://{replica}", by_time, timestamp=when)
        assert rows_of(by_time) == rows, f"timestamp {when} restored TXID {result.txid}, not {txid}"


def test_background_replication_for_plain_apps(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    with api.replicate_in_background(db, f"file://{replica}", db_settings=FAST_DB,
                                     replica_settings=FAST_REPLICA) as r:  # fmt: skip
        writer.step(50)
        txid = r.wait_for_sync(timeout=30)
        assert txid >= 1 and r.txid == txid
    out = tmp_path / "out.db"
    api.restore_sync(f"file://{replica}", out)
    assert rows_of(out) == writer.rows()
    writer.close()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 9])
def test_sigkilled_replicator_with_app_auto_checkpoints_and_external_checkpoints(tmp_path, seed):
    """Go 0.5.17 restores a corrupt database after this (seen with seed 4 without the
    external checkpoints and meta deletion); we must restore the source every time."""
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db, seed=7)
    writer.step(50)
    # Fast compaction, snapshots and L0 retention, so restores also cross L1 and L9.
    fast = (
        "levels:\n  - interval: 1s\nsnapshot:\n  interval: 3s\n  retention: 1h\n"
        "l0-retention: 2s\nl0-retention-check-interval: 1s\n"
    )
    cfg = write_config(tmp_path, db, replica, extra=fast)
    rng = random.Random(seed)
    other = sqlite3.connect(db, isolation_level=None, timeout=10)
    for round_ in range(6):
        proc = run_replicate("-config", str(cfg))
        deadline = time.monotonic() + rng.uniform(0.8, 2.0)
        while time.monotonic() < deadline:
            writer.step(rng.randint(1, 20))
            time.sleep(0.005)
        proc.kill()
        proc.wait()
        # While the replicator is down the app keeps writing: its auto-checkpoint
        # (every 1000 pages) and our own checkpoints move the WAL under the old position.
        writer.step(rng.randint(50, 400))
        if round_ % 3 == 1:
            other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        elif round_ % 3 == 2:
            other.execute("PRAGMA wal_checkpoint(RESTART)")
        if round_ == 3:
            shutil.rmtree(tmp_path / ".app.db-litestream", ignore_errors=True)
    other.close()
    uploaded = replica_max_txid(replica)
    proc = run_replicate("-config", str(cfg))
    writer.step(30)
    wait_for_upload(replica, uploaded)
    time.sleep(0.5)
    assert stop_process(proc) == 0
    expected = writer.rows()
    writer.close()
    assert {p.parent.name for p in replica.glob("ltx/*/*.ltx")} >= {"0", "1", "9"}
    out = tmp_path / "final.db"
    result = litestream("restore", "-o", str(out), "-integrity-check", "full", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert rows_of(out) == expected


@pytest.mark.slow
def test_restores_in_a_loop_while_a_fast_writer_runs(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db, seed=11)
    writer.step(20)
    proc = run_replicate("-config", str(write_config(tmp_path, db, replica)))
    stop = threading.Event()

    def write() -> None:
        w = Writer(db, seed=12)
        while not stop.is_set():
            w.step(1)
        w.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        # Levels 0-9 only: the replica identity (level 10) is written first.
        wait_for(lambda: any((replica / "ltx").glob("[0-9]/*.ltx")), timeout=30)
        for n in range(8):
            out = tmp_path / f"r{n}.db"
            result = litestream("restore", "-o", str(out), f"file://{replica}")
            assert result.returncode == 0, result.stderr
            assert integrity(out) == "ok"
    finally:
        stop.set()
        thread.join()
    time.sleep(0.5)
    assert stop_process(proc) == 0
    out = tmp_path / "final.db"
    assert litestream("restore", "-o", str(out), f"file://{replica}").returncode == 0
    assert rows_of(out) == writer.rows()
    writer.close()


@pytest.mark.slow
def test_database_larger_than_1gib_spans_the_lock_page(tmp_path):
    """The lock page (byte 1 GiB) is never stored; everything around it must survive."""
    db, replica = tmp_path / "big.db", tmp_path / "replica"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")

    async def main():
        async with api.replicate(db, f"file://{replica}", db_settings=FAST_DB,
                                 replica_settings=FAST_REPLICA) as r:  # fmt: skip
            for _ in range(11):
                conn.execute("BEGIN")
                for _ in range(100):  # 1 MiB rows: random head, compressible tail
                    conn.execute("INSERT INTO t (v) VALUES (randomblob(4096) || zeroblob(1044480))")
                conn.execute("COMMIT")
                await r.wait_for_sync(timeout=300)
            conn.execute("UPDATE t SET v = randomblob(2000) WHERE id % 50 = 0")
            await r.wait_for_sync(timeout=300)

    asyncio.run(main())
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert db.stat().st_size > (1 << 30) + (64 << 20)
    out = tmp_path / "restored.db"
    api.restore_sync(f"file://{replica}", out, integrity_check="quick")
    assert out.stat().st_size == db.stat().st_size
    with db.open("rb") as a, out.open("rb") as b:
        while chunk := a.read(1 << 24):
            assert chunk == b.read(1 << 24)
