"""Compaction levels and snapshots against the in-memory reference client and the file backend."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaClient
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.levels import (
    CompactionSettings,
    next_compaction_at,
    prev_compaction_at,
)
from litestream_core.engine.verify import verify_replica
from litestream_core.errors import ConfigError
from litestream_core.events import CompactionCompleted, Event, SnapshotWritten
from litestream_core.ltx import Decoder, Header
from litestream_core.testing.memory import MemoryReplicaClient

sys.path.insert(0, str(Path(__file__).parent))
from test_compaction_support import (
    History,
    all_files,
    apply_files,
    assert_points_exact,
    db_pages,
    reachable,
)

SETTINGS = CompactionSettings(level_intervals=(1.0, 2.0), snapshot_interval=4.0)


@pytest.fixture(params=["memory", "file"])
async def client(request, tmp_path):
    if request.param == "memory":
        c: ReplicaClient = MemoryReplicaClient()
    else:
        from litestream_file.client import FileReplicaClient

        c = FileReplicaClient(tmp_path / "replica")
    await c.init()
    yield c
    await c.close()


@pytest.fixture(params=[False, True], ids=["go-style", "checksums"])
def history(request, tmp_path):
    h = History(tmp_path / "db.sqlite", checksums=request.param)
    yield h
    h.close()


async def _read(client: ReplicaClient, level: int, lo: int, hi: int) -> Decoder:
    return Decoder(io.BytesIO(await _read_bytes(client, level, lo, hi)))


@pytest.mark.anyio
async def test_each_level_merges_what_the_level_below_added(client, history):
    comp = Compactor(client, SETTINGS)
    for batch in range(6):
        await history.upload(client, history.write(7))
        written = await comp.compact(1)
        assert [(f.min_txid, f.max_txid) for f in written] == [(batch * 7 + 1, batch * 7 + 7)]
        if batch % 2:
            (l2,) = await comp.compact(2)
            assert (l2.min_txid, l2.max_txid) == ((batch - 1) * 7 + 1, batch * 7 + 7)
    assert await comp.compact(1) == []  # nothing new
    assert await comp.compact(2) == []
    paths = await assert_points_exact(client, history)
    assert set(paths) == set(history.states)  # L0 still holds every point


@pytest.mark.anyio
async def test_compacted_header_keeps_chain_and_newest_timestamp(client, history):
    await history.upload(client, history.write(5))
    await history.upload(client, history.write(4))
    comp = Compactor(client, SETTINGS)
    (info,) = await comp.compact(1)
    dec = await _read(client, 1, 1, 9)
    pages = dict(dec.pages())
    first = Decoder(io.BytesIO(history.files[1])).header
    last = Decoder(io.BytesIO(history.files[9]))
    for _ in last.pages():
        pass
    assert dec.header.min_txid == 1 and dec.header.max_txid == 9
    assert dec.header.timestamp == history.times[9]  # newest source: PITR never overshoots
    assert info.created_at == history.timestamp(9)
    assert dec.header.pre_apply_checksum == first.pre_apply_checksum
    assert dec.trailer.post_apply_checksum == last.trailer.post_apply_checksum
    assert dec.header.commit == len(history.states[9]) // history.page_size
    assert dec.header.wal_offset == dec.header.wal_salt1 == 0
    assert pages == dict(db_pages(history.states[9], history.page_size))


@pytest.mark.anyio
async def test_merging_in_batches_gives_the_same_file(client, history, monkeypatch):
    from litestream_core.engine import compaction

    await history.upload(client, history.write(11))
    (whole,) = await Compactor(client, SETTINGS).compact(1)
    expected = await _read_bytes(client, 1, 1, 11)
    await client.delete_ltx_files([whole])
    monkeypatch.setattr(compaction, "MAX_MERGE_INPUTS", 3)
    (batched,) = await Compactor(client, SETTINGS).compact(1)
    assert await _read_bytes(client, 1, 1, 11) == expected
    assert batched.created_at == whole.created_at


async def _read_bytes(client: ReplicaClient, level: int, lo: int, hi: int) -> bytes:
    stream = await client.open_ltx_file(level, lo, hi)
    async with stream:
        return await stream.readall()


@pytest.mark.anyio
async def test_points_stay_exact_after_l0_is_pruned(client, history):
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    settings = CompactionSettings(level_intervals=(1.0, 2.0), l0_retention=60)
    comp = Compactor(client, settings, clock=lambda: clock[0])
    boundaries = []
    for _ in range(5):
        await history.upload(client, history.write(6))
        boundaries.append(history.txid)
        await comp.compact(1)
    await comp.compact(2)
    clock[0] = history.timestamp(history.txid) + timedelta(seconds=3600)
    deleted = await comp.enforce_l0_retention()
    assert deleted, "old L0 files merged into L1 go"
    remaining_l0 = [f async for f in client.ltx_files(0)]
    # The newest L0 file stays, with the L0 files back to where an L1 file ends, so
    # the points between that L1 end and the newest stay restorable.
    assert [f.max_txid for f in remaining_l0] == list(range(boundaries[-2] + 1, history.txid + 1))
    paths = await assert_points_exact(client, history)
    assert set(boundaries) <= set(paths)


@pytest.mark.anyio
async def test_a_gap_below_starts_a_new_file_instead_of_failing(client, history):
    await history.upload(client, history.write(4))
    comp = Compactor(client, SETTINGS)
    await comp.compact(1)
    later = history.write(6)
    # A lost position bridged by a snapshot: L0 skips TXIDs 5..6, L9 covers them.
    snap = history.snapshot_file(6)
    await client.write_ltx_file(SNAPSHOT_LEVEL, 1, 6, snap)
    await history.upload(client, later[2:])
    written = await comp.compact(1)
    assert [(f.min_txid, f.max_txid) for f in written] == [(7, 10)]
    await assert_points_exact(client, history)
    report = await verify_replica(client)
    assert report.ok, report.problems
    assert any("gap" in w for w in report.warnings)


@pytest.mark.anyio
async def test_snapshot_compacted_from_the_replica(client, history):
    await history.upload(client, history.write(8))
    comp = Compactor(client, SETTINGS)
    await comp.compact(1)
    await history.upload(client, history.write(3))
    info = await comp.snapshot()
    assert info is not None and (info.level, info.min_txid, info.max_txid) == (9, 1, 11)
    assert await apply_files(client, [info]) == history.states[11]
    assert await comp.snapshot() is None  # already current
    forced = await comp.snapshot(force=True)
    assert forced is not None and forced.max_txid == 11


class FakeDB:
    """The two DB methods the compactor uses, over a History (engine.db.DB stand-in)."""

    def __init__(self, history: History, meta: Path) -> None:
        self.history, self.meta = history, meta
        self.meta_path = meta

    def pos(self):
        return type("Pos", (), {"txid": self.history.txid})()

    def ltx_path(self, level: int, min_txid: int, max_txid: int) -> Path:
        return self.meta / str(level) / f"{min_txid:016x}-{max_txid:016x}.ltx"

    async def write_snapshot(self, out: BinaryIO) -> Header:
        data = self.history.snapshot_file(self.history.txid)
        out.write(data)
        return Decoder(io.BytesIO(data)).header


@pytest.mark.anyio
async def test_snapshot_from_the_database_and_local_sources(client, history, tmp_path):
    db = FakeDB(history, tmp_path / "meta")
    events: list[Event] = []
    comp = Compactor(client, SETTINGS, db=db, emit=events.append, db_path="x.db")
    txids = history.write(5)
    await history.upload(client, txids)
    (db.meta / "0").mkdir(parents=True)
    for t in txids[1:]:  # the first one was already cleaned up locally
        db.ltx_path(0, t, t).write_bytes(history.files[t])
    opened: list[tuple[int, int]] = []
    real_open = client.open_ltx_file

    async def counting_open(level, lo, hi, **kw):
        opened.append((level, lo))
        return await real_open(level, lo, hi, **kw)

    client.open_ltx_file = counting_open
    (l1,) = await comp.compact(1)
    assert opened == [(0, 1)]  # only the file missing locally was downloaded
    assert await apply_files(client, [l1]) == history.states[5]
    snap = await comp.snapshot()
    assert snap is not None and snap.max_txid == 5
    assert await comp.snapshot() is None
    assert await apply_files(client, [snap]) == history.states[5]
    kinds = [type(e) for e in events]
    assert kinds == [CompactionCompleted, SnapshotWritten]
    assert events[0].db_path == "x.db"


def test_schedule_is_wall_clock_aligned():
    now = datetime(2030, 1, 1, 12, 34, 56, 789000, tzinfo=UTC)
    assert prev_compaction_at(now, 30) == datetime(2030, 1, 1, 12, 34, 30, tzinfo=UTC)
    assert next_compaction_at(now, 30) == datetime(2030, 1, 1, 12, 35, 0, tzinfo=UTC)
    assert prev_compaction_at(now, 3600) == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    exact = datetime(2030, 1, 1, 12, 35, tzinfo=UTC)
    assert prev_compaction_at(exact, 300) == exact
    assert next_compaction_at(exact, 300) == exact + timedelta(minutes=5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level_intervals": (30.0, 0.0)},
        {"level_intervals": (1.0,) * 9},
        {"snapshot_interval": 0.0},
        {"l0_retention": -1.0},
    ],
)
def test_invalid_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        CompactionSettings(**kwargs)


@pytest.mark.anyio
async def test_too_early_guard_skips_a_level_written_in_this_slot(client, history):
    await history.upload(client, history.write(3))
    clock = [history.timestamp(3) + timedelta(seconds=10)]
    comp = Compactor(client, CompactionSettings(level_intervals=(60.0,)), clock=lambda: clock[0])
    assert await comp._due(1, clock[0])
    await comp.compact(1)
    # The L1 file is stamped with its newest source; a restart in the same slot waits.
    clock[0] = prev_compaction_at(history.timestamp(3), 60) + timedelta(seconds=59)
    assert not await comp._due(1, clock[0])
    assert await comp._due(1, clock[0] + timedelta(seconds=2))


@pytest.mark.anyio
async def test_run_compacts_on_schedule_while_writes_continue(client, tmp_path):
    history = History(tmp_path / "run.sqlite")
    settings = CompactionSettings(
        level_intervals=(0.5, 1.0), snapshot_interval=1.5, snapshot_retention=3600
    )
    comp = Compactor(client, settings)
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.create_task(comp.run())
    try:
        end = started + 3.2
        while loop.time() < end:
            await history.upload(client, history.write(1, step_ms=100))
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    elapsed = loop.time() - started
    files = await all_files(client)
    count = {lvl: sum(1 for f in files if f.level == lvl) for lvl in (1, 2, 9)}
    # At most one file per aligned run, plus the run at start-up.
    for level in count:
        assert 1 <= count[level] <= elapsed / settings.interval(level) + 2, (count, elapsed)
    report = await verify_replica(client)
    assert report.ok, report.problems
    paths = reachable(files)
    assert history.txid in paths
    assert await apply_files(client, paths[history.txid]) == history.states[history.txid]
    history.close()


@pytest.mark.anyio
async def test_a_failed_upload_changes_nothing_and_the_next_run_catches_up(client, history):
    from litestream_core.errors import TransientReplicaError

    await history.upload(client, history.write(6))
    comp = Compactor(client, SETTINGS)
    real_write = client.write_ltx_file

    async def failing_write(level, lo, hi, data):
        raise TransientReplicaError("storage unavailable", op="write")

    client.write_ltx_file = failing_write
    with pytest.raises(TransientReplicaError):
        await comp.compact(1)
    assert [f async for f in client.ltx_files(1)] == []
    client.write_ltx_file = real_write
    (info,) = await comp.compact(1)
    assert (info.min_txid, info.max_txid) == (1, 6)
    await assert_points_exact(client, history)


@pytest.mark.anyio
async def test_the_schedule_survives_a_failing_run(client, history, caplog):
    await history.upload(client, history.write(3))
    settings = CompactionSettings(level_intervals=(0.2,), snapshot_interval=3600)
    comp = Compactor(client, settings)
    real_compact = comp.compact
    calls = []

    async def flaky(level):
        calls.append(level)
        if len(calls) == 1:
            raise OSError("disk full")
        return await real_compact(level)

    comp.compact = flaky
    task = asyncio.create_task(comp.run())
    for _ in range(100):
        await asyncio.sleep(0.05)
        if [f async for f in client.ltx_files(1)]:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2
    assert [(f.min_txid, f.max_txid) async for f in client.ltx_files(1)] == [(1, 3)]
    (failed, *_) = [r for r in caplog.records if r.getMessage().startswith("compaction failed")]
    assert failed.ltx_level == 1 and failed.error == "OSError: disk full"


@pytest.mark.anyio
async def test_run_once_compacts_and_snapshots_only_what_is_due(history):
    """``replicate -once`` after uploading a fresh replica's L0: nothing more until an
    interval has passed since the level's first source, or since the replica's base."""
    client = MemoryReplicaClient()  # listed times are the files' own timestamps
    await client.init()
    settings = CompactionSettings(level_intervals=(60.0, 600.0), snapshot_interval=3600.0)
    await history.upload(client, history.write(3, step_ms=1000))
    first = history.timestamp(1)
    clock = [first + timedelta(seconds=59)]
    comp = Compactor(client, settings, clock=lambda: clock[0])
    await comp.run_once()
    assert [f.level for f in await all_files(client)] == [0, 0, 0]

    clock[0] = first + timedelta(seconds=60)
    await comp.run_once()
    assert [(f.level, f.min_txid, f.max_txid) for f in await all_files(client) if f.level] == [
        (1, 1, 3)
    ]  # L2's only source is newer than its interval

    clock[0] = first + timedelta(seconds=3599)
    assert not await comp._snapshot_due_once(clock[0])  # the L0 base counts as one
    clock[0] = first + timedelta(seconds=3600)
    await comp.run_once()
    levels = {f.level for f in await all_files(client)}
    assert levels == {0, 1, 2, SNAPSHOT_LEVEL}
    await client.close()


@pytest.mark.anyio
async def test_run_once_snapshots_a_replica_with_no_base_at_once(history):
    client = MemoryReplicaClient()
    await client.init()
    history.write(3)
    await history.upload(client, [2, 3])  # TXID 1 is not on the replica
    comp = Compactor(client, CompactionSettings(), clock=lambda: history.timestamp(3))
    assert await comp._snapshot_due_once(history.timestamp(3))
    await client.close()
