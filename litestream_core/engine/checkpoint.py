"""When to checkpoint, in Go's priority order (``checkpointIfNeeded``).

1. The WAL reached ``truncate_page_n`` pages: TRUNCATE (the syncer tries a PASSIVE
   first, which may restart the WAL and make the blocking TRUNCATE unnecessary).
2. It reached ``min_checkpoint_page_count`` pages: PASSIVE.
3. ``checkpoint_interval`` passed since the database file last changed (only
   checkpoints change it) and data was synced since: PASSIVE.

Sizes are measured by the synced WAL offset, not the file size: after a restart the
file still holds stale frames of the old generation and would look full forever
(Go issue #997). The decision is a pure function so it can be tested on its own; the
procedure itself (write lock, restart handling) lives with the syncer.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestream_core.engine.dbtypes import DBSettings
from litestream_core.engine.wal import wal_size_for_pages

PASSIVE = "PASSIVE"
RESTART = "RESTART"
TRUNCATE = "TRUNCATE"


@dataclass(frozen=True, slots=True)
class CheckpointState:
    synced_offset: int
    """End of the last synced commit frame in the current WAL generation."""
    synced_since_checkpoint: bool
    seconds_since_db_write: float


def exceeds_truncate(settings: DBSettings, page_size: int, offset: int) -> bool:
    n = settings.truncate_page_n
    return n > 0 and offset >= wal_size_for_pages(page_size, n)


def choose(settings: DBSettings, page_size: int, state: CheckpointState) -> str | None:
    """The checkpoint mode to run now, or None."""
    if exceeds_truncate(settings, page_size, state.synced_offset):
        return TRUNCATE
    if state.synced_offset >= wal_size_for_pages(page_size, settings.min_checkpoint_page_count):
        return PASSIVE
    if (
        settings.checkpoint_interval > 0
        and state.synced_since_checkpoint
        and state.seconds_since_db_write > settings.checkpoint_interval
        and state.synced_offset > wal_size_for_pages(page_size, 1)
    ):
        return PASSIVE
    return None
