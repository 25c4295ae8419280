"""Choosing the LTX files a restore applies.

A replica holds full snapshots (L9), compacted files (L1..L8) and per-sync files (L0).
The plan starts from the newest snapshot at or before the target, then repeatedly
takes the file that extends the contiguous TXID range furthest, so it downloads few
bytes and reaches the target TXID exactly, or says why it cannot.

Point-in-time targets: every file is stamped no earlier than its newest transaction
(an L0 file with the time of its sync, a compacted file or snapshot with its newest
source's, as Go's ltx compactor does), so every TXID up to the end of a file stamped
at or before T was committed by T. The restore goes to the newest such TXID that a
chain reaches exactly; a time after every file restores the newest state.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo, ReplicaClient
from litestream_core.errors import RestoreError

_MAX_TIMESTAMP_CANDIDATES = 64


class NoBackupsError(RestoreError):
    """The replica holds no LTX files at all (``-if-replica-exists`` exits 0 on it)."""


@dataclass(frozen=True)
class RestorePlan:
    files: tuple[LTXFileInfo, ...]
    txid: int

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


async def list_files(
    client: ReplicaClient, *, use_metadata: bool = False
) -> dict[int, list[LTXFileInfo]]:
    """Every file of every level, ascending by TXID within a level.

    The levels are listed concurrently: against object storage that is one round trip
    instead of ten.
    """

    async def level_files(level: int) -> list[LTXFileInfo]:
        files = [f async for f in client.ltx_files(level, use_metadata=use_metadata)]
        return sorted(files, key=lambda f: (f.min_txid, f.max_txid))

    levels = range(SNAPSHOT_LEVEL + 1)
    listed = await asyncio.gather(*(level_files(level) for level in levels))
    return {level: files for level, files in zip(levels, listed, strict=True) if files}


async def build_plan(
    client: ReplicaClient, *, txid: int | None = None, timestamp: datetime | None = None
) -> RestorePlan:
    if txid is not None and timestamp is not None:
        raise RestoreError("cannot restore to both a TXID and a timestamp")
    files = await list_files(client, use_metadata=timestamp is not None)
    if timestamp is None:
        return plan_for_txid(files, txid)
    return plan_for_timestamp(files, timestamp)


def plan_for_txid(files: Mapping[int, Sequence[LTXFileInfo]], target: int | None) -> RestorePlan:
    """The plan that reaches ``target`` (the newest TXID when None) exactly."""
    everything = [f for level in files.values() for f in level]
    if not everything:
        raise NoBackupsError("no backups found on the replica")
    newest = max(f.max_txid for f in everything)
    if target is None:
        target = newest
    elif target <= 0:
        raise RestoreError(f"invalid TXID {target}")
    elif target > newest:
        raise RestoreError(f"TXID {target:016x} is beyond the newest backup ({newest:016x})")

    snapshots = [f for f in files.get(SNAPSHOT_LEVEL, ()) if f.max_txid <= target]
    chosen: list[LTXFileInfo] = []
    pos = 0
    if snapshots:
        base = max(snapshots, key=lambda f: (f.max_txid, -f.size))
        chosen.append(base)
        pos = base.max_txid

    # Sweep by min TXID; the heap holds files that start at or before pos+1, best first:
    # furthest end, then least overlap (so the checksum chain stays verifiable), then size.
    candidates = sorted(
        (f for level, fs in files.items() if level != SNAPSHOT_LEVEL for f in fs
         if f.max_txid <= target and f.max_txid > pos),
        key=lambda f: f.min_txid,
    )  # fmt: skip
    heap: list[tuple[int, int, int, int, LTXFileInfo]] = []
    i = 0
    while pos < target:
        while i < len(candidates) and candidates[i].min_txid <= pos + 1:
            f = candidates[i]
            heapq.heappush(heap, (-f.max_txid, -f.min_txid, f.size, i, f))
            i += 1
        while heap and heap[0][4].max_txid <= pos:
            heapq.heappop(heap)
        if not heap:
            break
        best = heapq.heappop(heap)[4]
        chosen.append(best)
        pos = best.max_txid
    # A file starting at TXID 1 holds the whole database (LTX calls it a snapshot), so
    # whatever the plan applies before it would only be overwritten.
    full = max((i for i, f in enumerate(chosen) if f.min_txid == 1), default=0)
    chosen = chosen[full:]
    if pos != target:
        what = "the newest backup" if target == newest else f"TXID {target:016x}"
        raise RestoreError(
            f"cannot restore {what}: non-contiguous ltx files (the backups reach only "
            f"TXID {pos:016x} without a gap)"
        )
    return RestorePlan(files=tuple(chosen), txid=target)


def plan_for_timestamp(
    files: Mapping[int, Sequence[LTXFileInfo]], timestamp: datetime
) -> RestorePlan:
    """The plan for the newest state known to be committed at or before ``timestamp``."""
    everything = [f for level in files.values() for f in level]
    if not everything:
        raise NoBackupsError("no backups found on the replica")
    if timestamp >= max(f.created_at for f in everything):
        return plan_for_txid(files, None)
    candidates = sorted({f.max_txid for f in everything if f.created_at <= timestamp},
                        reverse=True)  # fmt: skip
    if not candidates:
        raise RestoreError(f"no backup at or before {timestamp.isoformat()}")
    last_error: RestoreError | None = None
    for txid in candidates[:_MAX_TIMESTAMP_CANDIDATES]:
        try:
            return plan_for_txid(files, txid)
        except RestoreError as exc:
            last_error = exc
    raise RestoreError(f"no restorable state at or before {timestamp.isoformat()}: {last_error}")
