"""Retention: what it deletes, and that it never takes the only path to a retained point."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.retention import plan_l0_retention, plan_snapshot_retention
from litestream_core.engine.verify import verify_replica
from litestream_core.testing.memory import MemoryReplicaClient

sys.path.insert(0, str(Path(__file__).parent))
from test_compaction_support import (
    Decoded,
    History,
    all_files,
    apply_files,
    reachable,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _f(level: int, lo: int, hi: int, minutes: float) -> LTXFileInfo:
    return LTXFileInfo(level, lo, hi, 100, T0 + timedelta(minutes=minutes))


def test_snapshot_retention_keeps_the_base_of_the_window_and_go_floor():
    snaps = [_f(9, 1, 10, 0), _f(9, 1, 20, 60), _f(9, 1, 30, 120), _f(9, 1, 40, 180)]
    l1 = [_f(1, 1, 5, 0), _f(1, 6, 12, 10), _f(1, 13, 25, 70), _f(1, 26, 40, 170)]
    l2 = [_f(2, 1, 12, 10), _f(2, 13, 40, 170)]
    plan = plan_snapshot_retention(
        {9: snaps, 1: l1, 2: l2}, now=T0 + timedelta(minutes=200), retention=90 * 60, max_level=2
    )
    # Window starts at minute 110: the snapshot from minute 60 is its base and stays;
    # the one from minute 0 goes, and lower levels are cut below its TXID (Go's floor).
    assert plan.deletions[9] == [snaps[0]]
    assert plan.floor == 10
    assert plan.deletions[1] == [l1[0]]
    assert 2 not in plan.deletions  # 1-12 ends past the floor
    assert plan.count == 2


def test_snapshot_retention_always_keeps_the_newest_snapshot_and_file():
    snaps = [_f(9, 1, 10, 0), _f(9, 1, 20, 1)]
    l1 = [_f(1, 1, 5, 0)]
    plan = plan_snapshot_retention(
        {9: snaps, 1: l1}, now=T0 + timedelta(days=30), retention=60, max_level=1
    )
    assert plan.deletions == {9: [snaps[0]]}  # L1's only file stays, and the newest snapshot


def test_level_files_wait_for_the_level_above_to_merge_them():
    snaps = [_f(9, 1, 10, 0), _f(9, 1, 20, 1), _f(9, 1, 30, 2)]
    l1 = [_f(1, 1, 5, 0), _f(1, 6, 9, 0), _f(1, 10, 30, 2)]
    l2 = [_f(2, 1, 5, 0)]  # L2 has not merged 6-9 yet
    plan = plan_snapshot_retention(
        {9: snaps, 1: l1, 2: l2}, now=T0 + timedelta(days=1), retention=60, max_level=2
    )
    assert plan.floor == 20
    assert plan.deletions[1] == [l1[0]]


def test_l0_retention_stops_at_recent_files_and_cuts_at_an_l1_end():
    l0 = [_f(0, t, t, t) for t in range(1, 11)]
    l1 = [_f(1, 1, 3, 3), _f(1, 4, 7, 7)]
    now = T0 + timedelta(minutes=11)
    # Files 1..7 are merged; 6 and 7 are too recent with a 4.5 minute retention.
    assert plan_l0_retention(l0, l1, now=now, retention=270) == l0[:3]
    # With everything old enough, the cut is at 7, where an L1 file ends.
    assert plan_l0_retention(l0, l1, now=now, retention=1) == l0[:7]
    # Files up to 5 old enough but 5 is inside L1's 4-7: cut back to 3.
    assert plan_l0_retention(l0, l1, now=now, retention=330) == l0[:3]
    assert plan_l0_retention(l0, [], now=now, retention=1) == []
    assert plan_l0_retention(l0, l1, now=now, retention=0) == []
    assert plan_l0_retention(l0[:7], l1, now=now, retention=1) == l0[:3]  # keeps the newest


@pytest.mark.anyio
async def test_retention_disabled_deletes_nothing(tmp_path):
    history = History(tmp_path / "db.sqlite")
    client = MemoryReplicaClient()
    await client.init()
    settings = CompactionSettings(
        level_intervals=(1.0,), snapshot_retention=1, l0_retention=1, retention_enabled=False
    )
    clock = [T0]
    comp = Compactor(client, settings, clock=lambda: clock[0])
    for _ in range(3):
        await history.upload(client, history.write(4))
        await comp.compact(1)
        await comp.snapshot()
    before = await all_files(client)
    clock[0] = history.timestamp(history.txid) + timedelta(days=2)
    assert (await comp.enforce_retention()).count > 0
    assert await comp.enforce_l0_retention()
    assert await all_files(client) == before
    history.close()


@pytest.mark.anyio
async def test_long_load_bounds_files_per_level_and_keeps_every_retained_point(tmp_path):
    """Hours of writes on a simulated clock: every scheduled run, then a check after each.

    After each retention pass every point that was restorable and is still retained
    (at or after the snapshot that starts the retention window, at a file boundary that
    remains) is still restorable, and every restorable point restores exactly.
    """
    history = History(tmp_path / "db.sqlite", blob_max=400)
    client = MemoryReplicaClient()
    await client.init()
    settings = CompactionSettings(
        level_intervals=(10.0, 60.0, 300.0),
        snapshot_interval=600.0,
        snapshot_retention=1200.0,
        l0_retention=30.0,
        l0_retention_check_interval=5.0,
    )
    step = 4  # seconds between transactions
    clock = [T0]
    comp = Compactor(client, settings, clock=lambda: clock[0])
    cache: Decoded = {}
    exact_checks = 0
    for now_s in range(0, 2 * 3600, step):
        clock[0] = T0 + timedelta(seconds=now_s)
        await history.upload(client, history.write(at_ms=int(clock[0].timestamp() * 1000)))

        def due(interval: float, now_s: int = now_s) -> bool:  # a slot boundary was crossed
            return now_s == 0 or now_s // interval != (now_s - step) // interval

        for level in range(1, settings.max_level + 1):
            if due(settings.interval(level)):
                await comp.compact(level)
        if due(settings.snapshot_interval):
            await comp.snapshot()
            exact_checks += await _retention_pass(comp, client, history, clock[0], settings, cache)
        elif due(settings.l0_retention_check_interval):
            await comp.enforce_l0_retention()
        _assert_bounds(await all_files(client), settings, step)
    assert exact_checks > 0
    report = await verify_replica(client)
    assert report.ok, report.problems
    history.close()


def _window_base(snapshots, window_start):
    """The snapshot a restore to the start of the retention window starts from."""
    snaps = sorted(snapshots, key=lambda s: s.max_txid)
    older = [s for s in snaps if s.created_at < window_start]
    return older[-1] if older else snaps[0]


async def _retention_pass(comp, client, history, now, settings, cache) -> int:
    files = await all_files(client)
    before = reachable(files)
    window_start = now - timedelta(seconds=settings.snapshot_retention)
    base = _window_base([f for f in files if f.level == SNAPSHOT_LEVEL], window_start)
    await comp.enforce_retention()
    await comp.enforce_l0_retention()
    files = await all_files(client)
    after = reachable(files)
    ends = {f.max_txid for f in files}
    retained = {t for t in before if t >= base.max_txid and t in ends}
    assert retained <= set(after), sorted(retained - set(after))
    assert history.txid in after
    # The window's first commit has a restorable state at or before it: no hole at the start.
    first_in_window = min(
        t for t, ms in history.times.items() if ms >= window_start.timestamp() * 1000
    )
    assert any(t <= first_in_window for t in after)
    for txid, path in after.items():
        assert await apply_files(client, path, cache) == history.states[txid], f"TXID {txid}"
    return len(after)


def _assert_bounds(files, settings: CompactionSettings, step: int) -> None:
    count = {lvl: sum(1 for f in files if f.level == lvl) for lvl in range(10)}
    l0_life = settings.l0_retention + settings.interval(1) + settings.l0_retention_check_interval
    assert count[0] <= l0_life / step + 2
    # A file lives until the snapshot floor passes it, and retention runs with each
    # snapshot: the floor trails the window start by up to two snapshot intervals (the
    # window's base snapshot is kept, the floor is the one before it), and files pile
    # up for one more interval until the next pass. Level N also waits for level N+1.
    life = settings.snapshot_retention + 3 * settings.snapshot_interval
    for level in range(1, settings.max_level + 1):
        above = settings.interval(level + 1) if level < settings.max_level else 0
        assert count[level] <= (life + above) / settings.interval(level) + 2, (level, count)
    assert count[SNAPSHOT_LEVEL] <= life / settings.snapshot_interval + 2


@st.composite
def _layouts(draw):
    """A replica as the schedule builds it: L0 per transaction, L1/L2 over batches, snapshots."""
    n = draw(st.integers(3, 60))
    l0 = [_f(0, t, t, t) for t in range(1, n + 1)]
    levels: dict[int, list[LTXFileInfo]] = {0: l0, 1: [], 2: [], 9: []}
    merged = {1: 0, 2: 0}
    for t in range(1, n + 1):
        for level in (1, 2):
            if draw(st.booleans()):
                below = [f for f in levels[level - 1] if f.min_txid > merged[level]]
                if below:
                    hi = below[-1].max_txid
                    levels[level].append(_f(level, merged[level] + 1, hi, t))
                    merged[level] = hi
            else:
                break
        if draw(st.integers(0, 9)) == 0:
            levels[9].append(_f(9, 1, t, t))
    if not levels[9]:
        levels[9].append(_f(9, 1, n, n))
    return levels, n


@settings(max_examples=300, deadline=None)
@given(
    _layouts(),
    st.floats(0, 80),
    st.floats(0, 60),
    st.floats(0, 30),
)
def test_retention_never_strands_a_retained_point(layout, now_min, retention_min, l0_min):
    levels, newest_txid = layout
    now = T0 + timedelta(minutes=now_min)
    before = reachable([f for fs in levels.values() for f in fs])
    plan = plan_snapshot_retention(levels, now=now, retention=retention_min * 60, max_level=2)
    after_levels = {
        lvl: [f for f in fs if f not in plan.deletions.get(lvl, [])] for lvl, fs in levels.items()
    }
    doomed = plan_l0_retention(after_levels[0], after_levels[1], now=now, retention=l0_min * 60)
    after_levels[0] = [f for f in after_levels[0] if f not in doomed]
    files = [f for fs in after_levels.values() for f in fs]
    after = reachable(files)
    window_start = now - timedelta(minutes=retention_min)
    base = _window_base(levels[9], window_start)
    ends = {f.max_txid for f in files}
    assert newest_txid in after
    missing = {t for t in before if t >= base.max_txid and t in ends} - set(after)
    assert not missing, sorted(missing)
    # Every commit inside the window has a restorable state at or before it.
    for t in range(1, newest_txid + 1):
        if T0 + timedelta(minutes=t) >= window_start and t >= base.max_txid:
            assert any(p <= t for p in after), t
