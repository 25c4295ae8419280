"""Restore planning from file listings alone (no storage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from litestream_core.client import LTXFileInfo
from litestream_core.engine.plan import NoBackupsError, plan_for_timestamp, plan_for_txid
from litestream_core.errors import RestoreError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def f(level, lo, hi, size=100, ts=None):
    return LTXFileInfo(level, lo, hi, size, ts or T0 + timedelta(seconds=hi))


def levels(*files):
    out = {}
    for info in files:
        out.setdefault(info.level, []).append(info)
    return {k: sorted(v, key=lambda i: i.min_txid) for k, v in out.items()}


def ranges(plan):
    return [(i.level, i.min_txid, i.max_txid) for i in plan.files]


def test_latest_uses_snapshot_then_furthest_reaching_files():
    files = levels(
        f(0, 1, 1), *(f(0, t, t) for t in range(2, 21)),
        f(1, 1, 10), f(1, 11, 15),
        f(9, 1, 12, size=1000),
    )  # fmt: skip
    plan = plan_for_txid(files, None)
    assert plan.txid == 20
    # L1 11-15 overlaps the snapshot but reaches further than any L0 file.
    assert ranges(plan) == [(9, 1, 12), (1, 11, 15)] + [(0, t, t) for t in range(16, 21)]


def test_compacted_file_preferred_over_many_l0_files():
    files = levels(*(f(0, t, t) for t in range(1, 11)), f(1, 1, 8), f(2, 1, 4))
    plan = plan_for_txid(files, None)
    assert ranges(plan) == [(1, 1, 8), (0, 9, 9), (0, 10, 10)]


def test_exact_txid_target():
    files = levels(*(f(0, t, t) for t in range(1, 11)), f(1, 1, 8))
    assert ranges(plan_for_txid(files, 5)) == [(0, t, t) for t in range(1, 6)]
    assert plan_for_txid(files, 8).files[-1].max_txid == 8


def test_unreachable_txid_inside_compacted_range_is_an_error():
    files = levels(f(1, 1, 8), f(0, 9, 9))
    with pytest.raises(RestoreError, match="cannot restore TXID"):
        plan_for_txid(files, 5)


def test_gap_is_an_error_not_a_partial_restore():
    files = levels(f(0, 1, 1), f(0, 2, 2), f(0, 4, 4))
    with pytest.raises(RestoreError, match="non-contiguous"):
        plan_for_txid(files, None)


def test_gap_bridged_by_snapshot():
    files = levels(f(0, 1, 1), f(0, 2, 2), f(9, 1, 5), f(0, 6, 6))
    assert ranges(plan_for_txid(files, None)) == [(9, 1, 5), (0, 6, 6)]


def test_empty_replica():
    with pytest.raises(NoBackupsError):
        plan_for_txid({}, None)


def test_txid_beyond_newest():
    with pytest.raises(RestoreError, match="beyond"):
        plan_for_txid(levels(f(0, 1, 1)), 7)


def test_timestamp_after_everything_restores_latest():
    files = levels(*(f(0, t, t) for t in range(1, 6)))
    plan = plan_for_timestamp(files, T0 + timedelta(days=1))
    assert plan.txid == 5


def test_timestamp_picks_last_l0_at_or_before():
    files = levels(*(f(0, t, t) for t in range(1, 6)))
    assert plan_for_timestamp(files, T0 + timedelta(seconds=3)).txid == 3
    assert plan_for_timestamp(files, T0 + timedelta(seconds=3.5)).txid == 3


def test_timestamp_uses_files_stamped_with_their_newest_transaction():
    files = levels(
        f(1, 1, 8, ts=T0 + timedelta(seconds=8)),
        f(0, 9, 9, ts=T0 + timedelta(seconds=9)),
        f(1, 9, 12, ts=T0 + timedelta(seconds=12)),
        f(0, 13, 13, ts=T0 + timedelta(seconds=20)),
    )
    assert plan_for_timestamp(files, T0 + timedelta(seconds=8.5)).txid == 8
    assert plan_for_timestamp(files, T0 + timedelta(seconds=15)).txid == 12
    # TXID 10 and 11 exist only inside the compacted file: the nearest reachable
    # state at or before T is 9.
    files[1] = [
        f(1, 1, 8, ts=T0 + timedelta(seconds=8)),
        f(1, 9, 12, ts=T0 + timedelta(seconds=12)),
    ]
    files[0] = [
        f(0, 9, 9, ts=T0 + timedelta(seconds=9)),
        f(0, 10, 10, ts=T0 + timedelta(seconds=10)),
        f(0, 13, 13, ts=T0 + timedelta(seconds=20)),
    ]
    assert plan_for_timestamp(files, T0 + timedelta(seconds=11)).txid == 10


def test_timestamp_before_everything():
    files = levels(*(f(0, t, t) for t in range(1, 6)))
    with pytest.raises(RestoreError, match="no backup"):
        plan_for_timestamp(files, T0)


def test_files_before_a_whole_database_file_are_left_out():
    """A compacted file starting at TXID 1 holds every page: a snapshot before it in the
    plan would only be overwritten, so only that file is downloaded."""
    files = levels(
        f(9, 1, 5, size=1000), f(3, 1, 10, size=1100), *(f(0, t, t) for t in range(6, 13))
    )
    assert ranges(plan_for_txid(files, 12)) == [(3, 1, 10), (0, 11, 11), (0, 12, 12)]
    assert ranges(plan_for_txid(files, 7)) == [(9, 1, 5), (0, 6, 6), (0, 7, 7)]
