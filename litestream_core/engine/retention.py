"""Which replica files retention may delete, decided from listings alone.

The deciding functions are pure, so the rule "never delete the only path to a retained
point in time" can be tested exhaustively without storage. Two deliberate departures
from Go Litestream 0.5, both keeping more rather than less:

* Snapshot retention keeps the newest snapshot taken at or before the start of the
  retention window. Go deletes every snapshot older than the window, which leaves the
  first part of the window (up to the next snapshot) with no snapshot to restore from.
  Lower levels are then cut at Go's conservative floor: the max TXID of the newest
  snapshot deleted, so a restore planned just before the pass still finds its files.
* A level-N file is only deleted once level N+1 has merged it, so a slow upper level
  never finds its input gone; and L0 files are only deleted up to a TXID where an L1
  file ends, so the L0 files kept still continue a reachable state (Go stops at the
  first too-recent file but may cut inside an L1 file's range, stranding the recent
  L0 points that followed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """Files to delete per level, and the TXID floor the lower levels were cut at."""

    deletions: dict[int, list[LTXFileInfo]] = field(default_factory=dict)
    floor: int = 0

    @property
    def count(self) -> int:
        return sum(len(files) for files in self.deletions.values())


def plan_snapshot_retention(
    levels: Mapping[int, Sequence[LTXFileInfo]],
    *,
    now: datetime,
    retention: float,
    max_level: int,
) -> RetentionPlan:
    """Snapshots older than ``retention`` and the level 1..max_level files only they needed.

    ``levels`` maps each level to its files in ascending order; level 0 is left to
    :func:`plan_l0_retention`.
    """
    snapshots = sorted(levels.get(SNAPSHOT_LEVEL, ()), key=lambda f: f.max_txid)
    window_start = now - timedelta(seconds=retention)
    older = [s for s in snapshots if s.created_at < window_start]
    # The newest snapshot at or before the window start is the base of its first points.
    doomed = older[:-1]
    if not doomed:
        return RetentionPlan()
    floor = doomed[-1].max_txid
    deletions: dict[int, list[LTXFileInfo]] = {SNAPSHOT_LEVEL: doomed}
    for level in range(1, max_level + 1):
        files = list(levels.get(level, ()))
        merged_up_to = _max_txid(levels.get(level + 1, ())) if level < max_level else None
        victims = [
            f
            for f in files[:-1]  # the newest file of a level always stays
            if f.max_txid < floor and (merged_up_to is None or f.max_txid <= merged_up_to)
        ]
        if victims:
            deletions[level] = victims
    return RetentionPlan(deletions, floor)


def plan_l0_retention(
    l0_files: Sequence[LTXFileInfo],
    l1_files: Sequence[LTXFileInfo],
    *,
    now: datetime,
    retention: float,
) -> list[LTXFileInfo]:
    """The oldest L0 files merged into L1 at least ``retention`` seconds ago.

    Stops at the first file too recent to go, never takes the newest L0 file, and ends
    the deletion where an L1 file ends, so the L0 files that stay attach to a state
    L1 can reach.
    """
    if retention <= 0 or not l0_files or not l1_files:
        return []
    l1_ends = {f.max_txid for f in l1_files}
    max_l1 = max(l1_ends)
    threshold = now - timedelta(seconds=retention)
    doomed: list[LTXFileInfo] = []
    for info in l0_files[:-1]:
        if info.created_at > threshold or info.max_txid > max_l1:
            break
        doomed.append(info)
    while doomed and doomed[-1].max_txid not in l1_ends:
        doomed.pop()
    return doomed


def l0_retention_status(
    l0_files: Sequence[LTXFileInfo],
    l1_files: Sequence[LTXFileInfo],
    doomed: Sequence[LTXFileInfo],
    *,
    now: datetime,
    retention: float,
) -> dict[str, int]:
    """L0 files by Go's statuses at a retention pass (``litestream_l0_retention_files_total``).

    ``eligible``: deleted by this pass (``doomed``); ``too_recent``: from the first file
    younger than ``retention`` on; ``not_compacted``: older ones that L1 does not hold
    yet. All zero while L1 is empty, as in Go.
    """
    if not l1_files:
        return {"eligible": 0, "not_compacted": 0, "too_recent": 0}
    max_l1 = _max_txid(l1_files)
    threshold = now - timedelta(seconds=retention)
    recent = next((i for i, f in enumerate(l0_files) if f.created_at > threshold), len(l0_files))
    return {
        "eligible": len(doomed),
        "not_compacted": sum(1 for f in l0_files[:recent] if f.max_txid > max_l1),
        "too_recent": len(l0_files) - recent,
    }


def _max_txid(files: Sequence[LTXFileInfo]) -> int:
    return max((f.max_txid for f in files), default=0)
