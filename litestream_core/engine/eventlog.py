"""Log lines for engine events: the replicate command logs what it emits.

Keeping the wording here (and not at every emit site) means a plugin sees exactly
what the log says, and the engine has one way of reporting what it did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from litestream_core.events import (
    CheckpointCompleted,
    CompactionCompleted,
    DatabaseAppeared,
    DatabaseMissing,
    Event,
    LevelCheckFailed,
    LTXFileUploaded,
    LTXFileWritten,
    ReplicaCaughtUp,
    ReplicaStalled,
    ReplicaStarted,
    ReplicaStopped,
    RestoreCompleted,
    RetentionEnforced,
    SnapshotWritten,
    SyncFailed,
    SyncRecovered,
)

log = logging.getLogger("litestream")


def describe(event: Event) -> tuple[int, str] | None:
    """The level and message for an event, or None for events not worth a line."""
    db = event.db_path
    match event:
        case LTXFileWritten(level=level, min_txid=lo, max_txid=hi):
            return logging.DEBUG, f"{db}: wrote L{level} {lo:016x}-{hi:016x}"
        case LTXFileUploaded(replica=replica, level=level, min_txid=lo, max_txid=hi):
            return logging.DEBUG, f"{db}: uploaded L{level} {lo:016x}-{hi:016x} to {replica}"
        case SnapshotWritten(level=level, txid=txid, reason=reason):
            why = f" ({reason})" if reason else ""
            return logging.INFO, f"{db}: snapshot at TXID {txid:016x} (L{level}){why}"
        case CheckpointCompleted(mode=mode):
            return logging.DEBUG, f"{db}: checkpoint {mode}"
        case CompactionCompleted(level=level, min_txid=lo, max_txid=hi):
            return logging.DEBUG, f"{db}: compacted L{level} {lo:016x}-{hi:016x}"
        case RetentionEnforced(level=level, deleted=deleted):
            return logging.DEBUG, f"{db}: retention deleted {deleted} L{level} files"
        case SyncFailed(operation=operation, replica=replica, error=error, attempt=attempt):
            where = f" to {replica}" if replica else ""
            return logging.WARNING, f"{db}: {operation}{where} failed (attempt {attempt}): {error}"
        case SyncRecovered(replica=replica, failures=failures):
            where = f" to {replica}" if replica else ""
            return logging.INFO, f"{db}: sync{where} recovered after {failures} failures"
        case ReplicaStarted(replica=replica):
            return logging.INFO, f"{db}: replicating to {replica}"
        case ReplicaStopped(replica=replica):
            return logging.INFO, f"{db}: stopped replicating to {replica}"
        case ReplicaStalled(replica=replica, stalled_seconds=stalled, lag_seconds=lag,
                            replica_txid=at, db_txid=local):  # fmt: skip
            return logging.WARNING, (
                f"{db}: replica {replica} has not advanced for {stalled:.0f}s: {lag:.0f}s and "
                f"{local - at} TXIDs behind (replica at TXID {at:016x}, database at {local:016x})"
            )
        case ReplicaCaughtUp(replica=replica, txid=txid, stalled_seconds=stalled):
            return logging.INFO, (
                f"{db}: replica {replica} recovered: caught up at TXID {txid:016x} "
                f"after {stalled:.0f}s"
            )
        case DatabaseMissing(missing_seconds=seconds):
            since = f" (for {seconds:.0f}s)" if seconds >= 1 else ""
            return logging.WARNING, f"{db}: database file does not exist{since}; waiting for it"
        case DatabaseAppeared():
            return logging.INFO, f"{db}: database file exists now; replicating it"
        case LevelCheckFailed(check="compaction", level=level, message=message):
            return (
                logging.WARNING,
                f"{db}: post-compaction verification failed: L{level}: {message}",
            )
        case LevelCheckFailed(level=level, kind=kind, message=message):
            return logging.WARNING, f"{db}: validation error detected: L{level} {kind}: {message}"
        case RestoreCompleted(output_path=path, txid=txid, duration_seconds=seconds):
            return logging.INFO, f"restored {path} at TXID {txid:016x} in {seconds:.2f}s"
    return None


def logged(emit: Callable[[Event], None]) -> Callable[[Event], None]:
    """``emit`` preceded by the event's log line.

    The line is written right away, as every other log line of the engine is, not
    handed to a listener thread: events come by the thousand when a thousand databases
    start, and most are debug lines that cost nothing when not enabled.
    """

    def emit_logged(event: Event) -> None:
        line = describe(event)
        if line is not None and log.isEnabledFor(line[0]):
            log.log(*line)
        emit(event)

    return emit_logged
