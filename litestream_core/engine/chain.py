"""Reading a replica's file listing as chains of LTX files that lead to a database state.

A state (a TXID) is reachable when a file starting at TXID 1 (a snapshot, on any level)
is followed by files that each start no later than one past where the previous ended
and end later: applying a file to any state inside its range yields its end state,
because it holds the final version of every page its range changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo, ReplicaClient

ALL_LEVELS = tuple(range(SNAPSHOT_LEVEL + 1))


async def list_level(
    client: ReplicaClient, level: int, *, seek: int = 0, use_metadata: bool = False
) -> list[LTXFileInfo]:
    """Every file of ``level`` with ``min_txid >= seek``, ascending."""
    return [info async for info in client.ltx_files(level, seek=seek, use_metadata=use_metadata)]


async def list_levels(
    client: ReplicaClient, levels: Iterable[int] = ALL_LEVELS, *, use_metadata: bool = False
) -> dict[int, list[LTXFileInfo]]:
    """The files of each of ``levels`` (empty levels included), ascending."""
    return {level: await list_level(client, level, use_metadata=use_metadata) for level in levels}


def newest(files: Iterable[LTXFileInfo]) -> LTXFileInfo | None:
    """The file reaching the highest TXID (the listing order is by min TXID)."""
    return max(files, key=lambda f: (f.max_txid, f.min_txid), default=None)


def coarsest_chain(files: Iterable[LTXFileInfo], target: int) -> list[LTXFileInfo]:
    """The fewest files from a snapshot to the furthest state at or below ``target``.

    Starts from the snapshot (a file beginning at TXID 1) that reaches furthest, then
    repeatedly takes the file that extends the chain furthest without passing
    ``target``; ties go to the smaller min TXID, then the higher level, as in Go's
    restore planner. Empty when no snapshot exists at or below ``target``.
    """
    usable = [f for f in files if f.max_txid <= target]
    bases = [f for f in usable if f.min_txid == 1]
    if not bases:
        return []
    chain = [max(bases, key=lambda f: (f.max_txid, f.level))]
    pos = chain[0].max_txid
    while pos < target:
        steps = [f for f in usable if f.min_txid <= pos + 1 and f.max_txid > pos]
        if not steps:
            break
        step = max(steps, key=lambda f: (f.max_txid, -f.min_txid, f.level))
        chain.append(step)
        pos = step.max_txid
    return chain
