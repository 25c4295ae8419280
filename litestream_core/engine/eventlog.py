"""Log lines for engine events: the replicate command logs what it emits.

Keeping the wording here (and not at every emit site) means a plugin sees exactly
what the log says, and the engine has one way of reporting what it did. Each line
says what happened in words a user knows, with the facts as fields (``db``,
``replica``, ``txid`` in Go's 16 hex digits, sizes in bytes, durations in seconds).

A snapshot is reported twice: when it starts (the engine logs that as it begins)
and here, once it is safely on the replica, with its size and how long it took. A
snapshot of the database's own meta directory (level 0) is safe only once uploaded,
so its line waits for that upload.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestream_core.events import (
    CHECKPOINT_SNAPSHOT,
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
from litestream_core.logs import format_seconds, format_txid, replica_type

log = logging.getLogger("litestream")

Line = tuple[int, str, dict[str, Any]]
"""Level, message and fields of one log line."""

REPEAT_INTERVAL = 30.0
"""Seconds during which the same upload error again is a DEBUG line, not a warning (the
database monitor's own errors are rate-limited alike): retries every half second at
shutdown, or with a short backoff, would otherwise fill the log with one message."""


class EventLog:
    """Turns events into lines, remembering level-0 snapshots until they are uploaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, tuple[SnapshotWritten, datetime]] = {}
        """Database -> its level-0 snapshot not uploaded yet, and when it started."""
        self._warned: dict[tuple[str, str], tuple[str, datetime]] = {}
        """(database, replica) -> the upload error last warned about, and when."""

    def line(self, event: Event) -> Line | None:
        """The line for an event, or None for events not worth one."""
        db = {"db": event.db_path}
        match event:
            case SnapshotWritten(level=0, txid=txid, size=size, reason=reason):
                with self._lock:
                    began = event.created_at.timestamp() - event.duration_seconds
                    self._snapshots[event.db_path] = (event, datetime.fromtimestamp(began, UTC))
                return logging.DEBUG, "snapshot written locally; uploading it", {
                    **db, "txid": format_txid(txid), "size": size, "reason": reason}  # fmt: skip
            case SnapshotWritten(txid=txid, size=size, reason=reason, replica=replica):
                level = logging.DEBUG if reason == CHECKPOINT_SNAPSHOT else logging.INFO
                return level, "snapshot is on the replica", {
                    **db, "replica": replica_type(replica), "txid": format_txid(txid),
                    "size": size, "duration": format_seconds(event.duration_seconds),
                    "reason": reason,
                }  # fmt: skip
            case LTXFileUploaded(replica=replica, level=level, min_txid=lo, max_txid=hi, size=size):
                snapshot = self._uploaded(event.db_path, level, hi)
                if snapshot is not None:
                    written, began_at = snapshot
                    took = (event.created_at - began_at).total_seconds()
                    rank = logging.DEBUG if written.reason == CHECKPOINT_SNAPSHOT else logging.INFO
                    return rank, "snapshot is on the replica", {
                        **db, "replica": replica_type(replica), "txid": format_txid(written.txid),
                        "size": written.size, "duration": format_seconds(took),
                        "reason": written.reason,
                    }  # fmt: skip
                return logging.DEBUG, "uploaded changes to the replica", {
                    **db, "replica": replica_type(replica), **_span(level, lo, hi), "size": size,
                }  # fmt: skip
            case LTXFileWritten(level=level, min_txid=lo, max_txid=hi, size=size):
                return logging.DEBUG, "copied new commits to a local LTX file", {
                    **db, **_span(level, lo, hi), "size": size}  # fmt: skip
            case CheckpointCompleted(mode=mode, wal_pages_before=pages):
                return logging.DEBUG, "checkpointed the WAL into the database", {
                    **db, "mode": mode, "wal_pages": pages}  # fmt: skip
            case CompactionCompleted(level=level, min_txid=lo, max_txid=hi, source_files=n):
                return logging.DEBUG, "compaction complete", {
                    **db, "replica": replica_type(event.replica), **_span(level, lo, hi),
                    "files": n}  # fmt: skip
            case RetentionEnforced(level=level, deleted=deleted):
                return logging.INFO, "deleted files past their retention from the replica", {
                    **db, "replica": replica_type(event.replica), "ltx_level": level,
                    "files": deleted}  # fmt: skip
            case SyncFailed(operation="sync"):
                return None  # the database's monitor logs these, rate-limited
            case SyncFailed(replica=replica, error=error, attempt=attempt, will_retry=retry):
                what = "; retrying" if retry else ""
                rank = self._upload_failure_level(event) if retry else logging.WARNING
                return rank, f"could not upload to the replica{what}", {
                    **db, "replica": replica_type(replica or ""), "attempt": attempt,
                    "error": error,
                }  # fmt: skip
            case SyncRecovered(replica=replica, failures=failures):
                with self._lock:
                    for key in [k for k in self._warned if k[0] == event.db_path]:
                        del self._warned[key]
                where = {"replica": replica_type(replica)} if replica else {}
                return logging.INFO, "replication works again", {
                    **db, **where, "failures": failures}  # fmt: skip
            case ReplicaStarted(replica=replica):
                return logging.DEBUG, "connected to the replica", {
                    **db, "replica": replica_type(replica), "url": replica}  # fmt: skip
            case ReplicaStopped(replica=replica):
                return logging.INFO, "stopped replicating", {
                    **db, "replica": replica_type(replica)}  # fmt: skip
            case ReplicaStalled(replica=replica, stalled_seconds=stalled, lag_seconds=lag,
                                replica_txid=at, db_txid=local):  # fmt: skip
                return logging.WARNING, (
                    "the replica has not advanced: recent commits are not safe yet"
                ), {
                    **db, "replica": replica_type(replica), "stalled": format_seconds(stalled),
                    "lag": format_seconds(lag), "behind": local - at,
                    "replica_txid": format_txid(at), "db_txid": format_txid(local),
                }  # fmt: skip
            case ReplicaCaughtUp(replica=replica, txid=txid, stalled_seconds=stalled):
                return logging.INFO, "the replica caught up: every commit is safe again", {
                    **db, "replica": replica_type(replica), "txid": format_txid(txid),
                    "stalled": format_seconds(stalled),
                }  # fmt: skip
            case DatabaseMissing(missing_seconds=seconds):
                return (
                    logging.WARNING,
                    ("database file does not exist; replication starts when it appears"),
                    {**db, "missing": format_seconds(seconds)},
                )
            case DatabaseAppeared():
                return logging.INFO, "database file appeared; replicating it", db
            case LevelCheckFailed(check="compaction", level=level, kind=kind, message=message):
                return logging.WARNING, "a compaction left a problem in its level", {
                    **db, "replica": replica_type(event.replica), "ltx_level": level,
                    "problem": kind, "error": message,
                }  # fmt: skip
            case LevelCheckFailed(level=level, kind=kind, message=message):
                return logging.WARNING, "validation found a problem in a replica level", {
                    **db, "replica": replica_type(event.replica), "ltx_level": level,
                    "problem": kind, "error": message,
                }  # fmt: skip
            case RestoreCompleted(output_path=path, txid=txid, duration_seconds=seconds):
                return logging.INFO, "restored database", {
                    "db": path, "txid": format_txid(txid), "duration": format_seconds(seconds),
                }  # fmt: skip
        return None

    def _upload_failure_level(self, event: SyncFailed) -> int:
        """WARNING for a new error, DEBUG for the same one repeated within the interval."""
        key = (event.db_path, event.replica or "")
        with self._lock:
            last = self._warned.get(key)
            if (
                last is not None
                and last[0] == event.error
                and ((event.created_at - last[1]).total_seconds() < REPEAT_INTERVAL)
            ):
                return logging.DEBUG
            self._warned[key] = (event.error, event.created_at)
        return logging.WARNING

    def _uploaded(
        self, db: str, level: int, max_txid: int
    ) -> tuple[SnapshotWritten, datetime] | None:
        """The pending level-0 snapshot this upload (or a later one) carries, if any."""
        if level != 0:
            return None
        with self._lock:
            pending = self._snapshots.get(db)
            if pending is None or max_txid < pending[0].txid:
                return None
            del self._snapshots[db]
            return pending


def _span(level: int, min_txid: int, max_txid: int) -> dict[str, Any]:
    """The fields naming one LTX file: its level and TXID range."""
    return {"ltx_level": level, "txid.min": format_txid(min_txid),
            "txid.max": format_txid(max_txid)}  # fmt: skip


def logged(emit: Callable[[Event], None]) -> Callable[[Event], None]:
    """``emit`` preceded by the event's log line.

    The line is written right away, as every other log line of the engine is, not
    handed to a listener thread: events come by the thousand when a thousand databases
    start, and most are debug lines that cost nothing when not enabled.
    """
    lines = EventLog()

    def emit_logged(event: Event) -> None:
        line = lines.line(event)
        if line is not None and log.isEnabledFor(line[0]):
            level, message, fields = line
            log.log(level, message, extra=fields)
        emit(event)

    return emit_logged
