"""Go's level checks: ``verify-compaction`` after each compaction and the periodic
``validation.interval``; both warn (an event, logged and counted), never fail."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import make_history

from litestream_core.client import LTXFileInfo
from litestream_core.config import parse_config
from litestream_core.engine.chain import list_level
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.replica import Replica
from litestream_core.engine.store import Entry, Store
from litestream_core.engine.validation import level_problems, validate_periodically
from litestream_core.events import LevelCheckFailed
from litestream_core.metrics import MetricsCollector


def info(lo: int, hi: int) -> LTXFileInfo:
    return LTXFileInfo(level=1, min_txid=lo, max_txid=hi, size=1, created_at=datetime.now(UTC))


def test_level_problems_are_go_s_three_kinds():
    assert level_problems(1, [info(1, 3), info(4, 9), info(10, 10)]) == []
    kinds = [p.kind for p in level_problems(1, [info(1, 3), info(5, 6), info(6, 7), info(2, 2)])]
    assert kinds == ["gap", "overlap", "unsorted"]


def test_keys_parse():
    cfg = parse_config("verify-compaction: true\nvalidation:\n  interval: 1m\n")
    assert cfg.verify_compaction and cfg.validation_interval == 60
    assert parse_config("").validation_interval is None


async def gapped_replica(tmp_path):
    """L0 1..7 with L0 2 gone, and L1 holding 1-1: compacting L1 leaves a gap at 2."""
    chain = await make_history(tmp_path, n=6)
    client = chain.client
    l0 = await list_level(client, 0)
    one = l0[0]
    async with await client.open_ltx_file(0, one.min_txid, one.max_txid) as f:
        await client.write_ltx_file(1, 1, 1, await f.read())
    await client.delete_ltx_files([l0[1]])
    return client


@pytest.mark.anyio
@pytest.mark.parametrize("verify", [True, False])
async def test_verify_compaction_reports_a_gap_it_wrote(tmp_path, verify):
    client = await gapped_replica(tmp_path)
    events = []
    settings = CompactionSettings(level_intervals=(1.0,), verify_compaction=verify)
    db = DB(tmp_path / "app.db")
    comp = Compactor(client, settings, emit=events.append, db_path=str(db.path), replica_name="mem")
    assert await comp.compact(1)
    checks = [e for e in events if isinstance(e, LevelCheckFailed)]
    if not verify:
        assert checks == []
        return
    assert [(e.check, e.level, e.kind) for e in checks] == [("compaction", 1, "gap")]
    collector = MetricsCollector(Store([Entry(db, None, opened=True)]))
    collector.litestream_event(checks[0])
    samples = {m.name: m.samples for m in collector.collect()}
    assert samples["litestream_compaction_verify_error_count"][0].value == 1
    assert samples["litestream_validation_error_count"][0].value == 0


@pytest.mark.anyio
async def test_validation_checks_every_replica_periodically(tmp_path):
    client = await gapped_replica(tmp_path)
    await Compactor(client, CompactionSettings(level_intervals=(1.0,))).compact(1)
    events = []
    db = DB(tmp_path / "app.db")
    entry = Entry(db, Replica(db, client), emit=events.append, opened=True)
    task = asyncio.create_task(validate_periodically(Store([entry]), 0.05, max_level=1))
    try:
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    kinds = {(e.check, e.level, e.kind) for e in events if isinstance(e, LevelCheckFailed)}
    # L0 lacks file 2; L1 jumps from 1 to 3.
    assert kinds == {("validation", 0, "gap"), ("validation", 1, "gap")}
