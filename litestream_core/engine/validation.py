"""Go's level checks: is each level of a replica TXID-contiguous?

``verify-compaction`` checks the level a compaction just wrote; ``validation.interval``
checks levels 0..N of every replica periodically. Both only warn (a ``LevelCheckFailed``
event, logged and counted): the engine itself leaves a gap in a level on purpose when a
snapshot bridges a lost position. ``litestream verify`` is the thorough check (every
file decoded, every chain followed); this one reads listings only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from litestream_core.client import LTXFileInfo, ReplicaClient
from litestream_core.engine.chain import list_level
from litestream_core.errors import describe
from litestream_core.events import Event, LevelCheckFailed
from litestream_core.logs import replica_type

if TYPE_CHECKING:
    from litestream_core.engine.store import Store

log = logging.getLogger("litestream.validation")


@dataclass(frozen=True, slots=True)
class LevelProblem:
    level: int
    kind: str
    """``gap``, ``overlap`` or ``unsorted``."""
    message: str


def level_problems(level: int, files: Sequence[LTXFileInfo]) -> list[LevelProblem]:
    """Each place where a file does not start right after the one before it, in listing
    order (storage lists by name, which is TXID order)."""
    found = []
    for prev, cur in itertools.pairwise(files):
        span = f"{prev.name} ends at {prev.max_txid:x}, {cur.name} starts at {cur.min_txid:x}"
        if cur.min_txid < prev.min_txid:
            found.append(LevelProblem(level, "unsorted", f"files out of order: {span}"))
        elif cur.min_txid > prev.max_txid + 1:
            found.append(LevelProblem(level, "gap", f"TXID gap: {span}"))
        elif cur.min_txid <= prev.max_txid:
            found.append(LevelProblem(level, "overlap", f"TXID overlap: {span}"))
    return found


async def check_levels(client: ReplicaClient, levels: Iterable[int]) -> list[LevelProblem]:
    found = []
    for level in levels:
        found += level_problems(level, await list_level(client, level))
    return found


def report(
    problems: Iterable[LevelProblem],
    emit: Callable[[Event], None] | None,
    *,
    db_path: str,
    replica: str,
    check: str,
) -> None:
    for p in problems:
        event = LevelCheckFailed(db_path=db_path, replica=replica, check=check, level=p.level,
                                 kind=p.kind, message=p.message)  # fmt: skip
        if emit is not None:
            emit(event)
        else:
            log.warning("a replica level has a problem", extra={
                "db": db_path, "replica": replica_type(replica), "check": check,
                "ltx_level": p.level, "problem": p.kind, "error": p.message})  # fmt: skip


async def validate_periodically(store: Store, interval: float, max_level: int) -> None:
    """Check levels 0..``max_level`` of every replica each ``interval`` (Go's
    validation monitor), databases added at run time included, until cancelled."""
    log.info("checking replica levels periodically", extra={"interval": f"{interval:g}s"})
    while True:
        await asyncio.sleep(interval)
        for entry in list(store.entries):
            if not entry.opened:
                continue
            for replica in entry.replicas:
                try:
                    problems = await check_levels(replica.client, range(max_level + 1))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("could not check the replica's levels; trying again next time",
                              extra={"db": str(entry.db.path),
                                     "replica": replica_type(replica.name),
                                     "error": describe(exc)})  # fmt: skip
                    continue
                report(problems, entry.emit, db_path=str(entry.db.path),
                       replica=replica.name, check="validation")  # fmt: skip
