"""What the application process and its replication process say to each other.

Messages are pickled tuples on a private socket (``multiprocessing.connection``
framing). The parent sends ``(op, request_id, argument)``: ``start`` (with the
``ChildSpec``, always request 0), ``sync`` (a timeout), ``status`` and ``stop``.
The child answers each request with ``("reply", request_id, ok, value_or_error)``
and, unasked, sends ``("event", event)`` and ``("log", logger, level, message)`` in
the order things happened, so an event always arrives before the reply it led to.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

from litestream_core.client import ReplicaURL
from litestream_core.engine.dbtypes import DBSettings
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.replica import ReplicaSettings
from litestream_core.errors import LitestreamError, describe

START, SYNC, STATUS, STOP = "start", "sync", "status", "stop"
REPLY, EVENT, LOG = "reply", "event", "log"


@dataclass(frozen=True)
class ReplicationStatus:
    """Where replication stands; ``pid`` is the replication process (None in-process)."""

    db_path: str
    replica: str
    local_txid: int
    """The newest TXID copied from the WAL into a local LTX file."""
    replica_txid: int
    """The newest TXID known to be on the replica."""
    pid: int | None = None


@dataclass(frozen=True)
class ChildSpec:
    """Everything the replication process needs, sent as its first message."""

    db_path: str
    replica_url: ReplicaURL
    options: dict[str, Any] = field(default_factory=dict)
    db_settings: DBSettings | None = None
    replica_settings: ReplicaSettings | None = None
    compaction: CompactionSettings | bool = True
    shutdown_sync_timeout: float = 30.0
    plugins: tuple[str, ...] | None = None
    """Entry-point plugins to load (the caller's plugin manager's); None: the default."""
    compression: str = "lz4"
    """The page codec, by name: the child looks it up among its own plugins."""
    parent_pid: int = 0
    log_level: int = 30


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` as it can cross to the parent: same class and one-line message.

    The traceback stays behind (the parent shows one line, never a traceback); an
    error that does not survive pickling becomes a LitestreamError with its line.
    """
    exc.__traceback__ = None
    exc.__cause__ = exc.__context__ = None
    try:
        copy = pickle.loads(pickle.dumps(exc))
    except Exception:
        return LitestreamError(describe(exc))
    if isinstance(copy, BaseException) and describe(copy) == describe(exc):
        return copy
    return LitestreamError(describe(exc))
