"""Typed events the engine emits through the ``litestream_event`` hook.

One hook with many frozen event classes lets the set grow (new classes, new fields with
defaults) without ever changing a hookspec. Listeners filter with ``isinstance`` or
``match``. The engine calls each listener on its own, so a listener that raises or
hangs never holds up replication.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event."""

    name: ClassVar[str] = "event"
    db_path: str = ""
    created_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True, kw_only=True)
class LTXFileWritten(Event):
    """A new LTX file was written to the local meta directory."""

    name: ClassVar[str] = "ltx_file_written"
    level: int
    min_txid: int
    max_txid: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LTXFileUploaded(Event):
    """An LTX file reached the replica."""

    name: ClassVar[str] = "ltx_file_uploaded"
    replica: str
    level: int
    min_txid: int
    max_txid: int
    size: int


CHECKPOINT_SNAPSHOT = "checkpoint boundary snapshot"
"""``SnapshotWritten.reason`` of the routine snapshot that follows a TRUNCATE checkpoint."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotWritten(Event):
    """A full snapshot was written (local L0 after a lost position, or replica L9)."""

    name: ClassVar[str] = "snapshot_written"
    level: int
    txid: int
    size: int
    reason: str = ""
    duration_seconds: float = 0.0
    """From the start of the snapshot until it was written (to the replica for L9)."""
    replica: str = ""
    """The replica written to (L9); empty for a local level-0 snapshot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointCompleted(Event):
    """A WAL checkpoint ran; ``mode`` is PASSIVE, RESTART or TRUNCATE."""

    name: ClassVar[str] = "checkpoint_completed"
    mode: str
    wal_pages_before: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactionCompleted(Event):
    name: ClassVar[str] = "compaction_completed"
    level: int
    min_txid: int
    max_txid: int
    source_files: int
    replica: str = ""
    """The replica compacted (beyond Go: a database can have several)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionEnforced(Event):
    name: ClassVar[str] = "retention_enforced"
    level: int
    deleted: int
    replica: str = ""
    """The replica files were deleted from."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationFailed(Event):
    """A step of replication failed. Base of the failure events: match it to see all.

    ``error_class`` is the exception's class name: one of ``litestream_core.errors``
    (``TransientReplicaError`` is retried with backoff, ``ReplicaPermissionError``
    needs the user), an ``OSError`` from the local disk, or, when ``unexpected``, a
    Python exception from a bug (its traceback is logged once).
    """

    name: ClassVar[str] = "operation_failed"
    operation: str
    """What failed: ``sync`` (database to its local L0 files), ``upload``, ``compact``,
    ``snapshot`` or ``retention``."""
    replica: str | None = None
    """The replica's redacted URL; None for a step on the database itself."""
    error: str
    """One line, for people."""
    error_class: str
    attempt: int = 1
    """Failures of this step in a row, this one included."""
    will_retry: bool = True
    unexpected: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncFailed(OperationFailed):
    """Syncing the database (``operation="sync"``) or uploading to the replica
    (``"upload"``) failed; the engine retries with backoff."""

    name: ClassVar[str] = "sync_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactionFailed(OperationFailed):
    """A compaction, snapshot or retention pass failed; the next scheduled one retries."""

    name: ClassVar[str] = "compaction_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncRecovered(Event):
    """Syncing works again after failures."""

    name: ClassVar[str] = "sync_recovered"
    replica: str | None = None
    """None when the database's own sync recovered."""
    failures: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaStarted(Event):
    name: ClassVar[str] = "replica_started"
    replica: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaStopped(Event):
    name: ClassVar[str] = "replica_stopped"
    replica: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreProgress(Event):
    """Bytes of LTX data applied so far out of the plan's total."""

    name: ClassVar[str] = "restore_progress"
    output_path: str
    done_bytes: int
    total_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreCompleted(Event):
    name: ClassVar[str] = "restore_completed"
    output_path: str
    txid: int
    duration_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaLag(Event):
    """Where a replica stands against its database, sent about once a second while it
    is behind and once when it has caught up (the source of the lag metrics).

    ``lag_seconds`` is the age of the oldest local commit the replica does not hold
    yet: 0 when it holds everything.
    """

    name: ClassVar[str] = "replica_lag"
    replica: str
    lag_seconds: float
    replica_txid: int
    db_txid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelCheckFailed(Event):
    """A replica level is not TXID-contiguous: a gap, an overlap or files out of order.

    ``check`` says which check found it: ``compaction`` (``verify-compaction``, after
    writing the level) or ``validation`` (``validation.interval``). A warning only:
    a gap that a snapshot bridges is expected after a lost position.
    """

    name: ClassVar[str] = "level_check_failed"
    replica: str
    check: str
    level: int
    kind: str
    """``gap``, ``overlap`` or ``unsorted`` (Go's words)."""
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaStalled(Event):
    """A replica behind its database has not advanced for ``stalled_seconds``.

    Sent once when the stall passes the configured limit, then again at doubling
    intervals (``warning`` counts them) while it lasts.
    """

    name: ClassVar[str] = "replica_stalled"
    replica: str
    stalled_seconds: float
    lag_seconds: float
    replica_txid: int
    db_txid: int
    warning: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaCaughtUp(Event):
    """A replica reported as stalled holds every local commit again."""

    name: ClassVar[str] = "replica_caught_up"
    replica: str
    txid: int
    stalled_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseMissing(Event):
    """The database file does not exist (yet); nothing is replicated until it does.

    Sent at start and then at doubling intervals while it is still missing.
    """

    name: ClassVar[str] = "database_missing"
    missing_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseAppeared(Event):
    """A database reported missing exists now."""

    name: ClassVar[str] = "database_appeared"
    missing_seconds: float
