"""A wall clock stepped back and forward by hours during replication (hazard 19).

The engine reads time from one source (``engine.clock``: the wall clock once, then the
monotonic clock; docs/clocks.md). Here that source is built over a fake wall clock
that jumps 3 hours back, then 5 hours forward, then returns, while an application
writes and the database is synced, uploaded, compacted and pruned after every write.
A design that read the wall clock would stamp files hours out of order (breaking
``-timestamp`` restores) and, after the forward jump, see every file as hours old and
prune them. Here: no TXID is missing, LTX timestamps never go back and follow real
time, no file inside the retention window is deleted, and a restore to each commit's
timestamp gives exactly that commit's database.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

from litestream_file.client import FileReplicaClient

from litestream_core.backend_support.timestamps import ms_to_datetime
from litestream_core.engine import clock
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.replica import Replica
from litestream_core.engine.restore import restore
from litestream_core.ltx import HEADER_SIZE, Header

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_engine_db_support import (
    app_connect,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)

HOUR = 3600.0
JUMPS = {4: -3 * HOUR, 8: 5 * HOUR, 12: 0.0}
"""Step -> the fake wall clock's offset from real time from that step on."""
RETENTION = 60.0
"""Snapshot and L0 retention, in real seconds: far longer than the test, far shorter
than a jump."""


def header_time(path: Path) -> int:
    with path.open("rb") as f:
        return Header.decode(f.read(HEADER_SIZE)).timestamp


def test_wall_clock_jumps_change_nothing(tmp_path: Path, caplog) -> None:
    path, replica_dir = tmp_path / "app.db", tmp_path / "replica"
    app = app_connect(path)
    offset = [0.0]
    engine_clock = clock.EngineClock(wall=lambda: time.time() + offset[0])
    states: list[tuple[int, int, bytes]] = []  # (TXID, its L0 file's timestamp, database)
    uploaded: set[str] = set()
    started = time.monotonic()

    async def main() -> None:
        client = FileReplicaClient(replica_dir)
        db = DB(path, DBSettings(min_checkpoint_page_count=1 << 30))
        await db.open()
        replica = Replica(db, client)
        await replica.start()
        compactor = Compactor(
            client,
            CompactionSettings(level_intervals=(1.0,), snapshot_interval=2.0,
                               snapshot_retention=RETENTION, l0_retention=RETENTION),
            db=db,
        )  # fmt: skip
        for step in range(16):
            offset[0] = JUMPS.get(step, offset[0])
            engine_clock.check_drift()
            app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
            info = await db.sync()
            assert info is not None
            local = db.ltx_path(0, info.min_txid, info.max_txid)
            states.append((info.max_txid, header_time(local), app.serialize()))
            await replica.sync()
            uploaded.update(p.name for p in replica_dir.glob("ltx/0/*.ltx"))
            await compactor.compact(1)
            if step % 4 == 3:
                await compactor.snapshot(force=True)
            await compactor.enforce_retention()
            await compactor.enforce_l0_retention()
            await asyncio.sleep(0.05)  # distinct millisecond timestamps
        await db.close()

    with caplog.at_level(logging.INFO, logger="litestream.clock"), clock.use(engine_clock):
        run(main())
    elapsed_ms = (time.monotonic() - started) * 1000

    # No gap: one TXID per step, every L0 file still on the replica (none pruned early).
    txids = [txid for txid, _, _ in states]
    assert txids == list(range(txids[0], txids[0] + len(txids)))
    assert uploaded == {p.name for p in replica_dir.glob("ltx/0/*.ltx")}
    assert len(uploaded) == len(states)

    # Timestamps never go back and span real time, not the hours the wall clock jumped.
    stamps = [stamp for _, stamp, _ in states]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert stamps[-1] - stamps[0] <= elapsed_ms + 1000

    # Each commit's time restores exactly that commit.
    for txid, stamp, expected in states:
        out = tmp_path / f"at-{txid}.db"
        result = run(restore(FileReplicaClient(replica_dir), out, timestamp=ms_to_datetime(stamp)))
        assert result.txid == txid
        assert out.read_bytes() == expected

    # The operator is told the system clock moved, and when it came back.
    messages = [r.getMessage() for r in caplog.records if r.name == "litestream.clock"]
    assert any("jumped back" in m for m in messages) and any("jumped ahead" in m for m in messages)
    assert "agrees with this process's time again" in messages[-1]
