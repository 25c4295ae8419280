"""Counters the engine keeps as it works, read by the metrics collector at scrape time.

Go keeps Prometheus counters inside its engine. We keep plain numbers here instead
(the engine imports no Prometheus), updated where the work happens, and
``litestream_core.metrics`` turns them into Go's metric families when ``/metrics`` is
scraped. Reading at scrape time is what makes gauges true from start-up and covers
databases registered at run time: nothing waits for an event to arrive.

Updates come from the database's worker thread and the event loop; each update of
more than one number takes the object's lock, so a scrape never sees half of one.
"""

from __future__ import annotations

import errno
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

OPERATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the replica operation duration histogram: Go's."""

L0_RETENTION_STATUSES = ("eligible", "not_compacted", "too_recent")

_DISK_FULL_MARKERS = ("No space left on device", "disk is full", "database or disk is full")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the local disk is full (ENOSPC, or SQLite's SQLITE_FULL)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(marker in str(exc) for marker in _DISK_FULL_MARKERS)


@dataclass
class CheckpointStats:
    count: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass
class DBStats:
    """One database's counters (Go's ``litestream_*{db=...}`` families)."""

    sync_count: int = 0
    sync_error_count: int = 0
    sync_seconds: float = 0.0
    total_wal_bytes: int = 0
    """WAL bytes copied into L0 files."""
    disk_full: bool = False
    """The last sync failed because the local disk is full."""
    checkpoints: dict[str, CheckpointStats] = field(
        default_factory=lambda: defaultdict(CheckpointStats)
    )
    """By mode (PASSIVE, RESTART, TRUNCATE)."""
    l0_retention: dict[str, int] = field(default_factory=dict)
    """Files of level 0 by status at the last L0 retention pass (Go's three statuses)."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def timing_sync(self) -> Iterator[None]:
        """Count one sync and its duration; a failure counts as an error (disk full too)."""
        start = time.monotonic()
        try:
            yield
        except BaseException as exc:
            self._synced(start, exc)
            raise
        self._synced(start, None)

    def _synced(self, start: float, exc: BaseException | None) -> None:
        with self.lock:
            self.sync_count += 1
            self.sync_seconds += time.monotonic() - start
            if exc is not None and isinstance(exc, Exception):
                self.sync_error_count += 1
            self.disk_full = exc is not None and is_disk_full(exc)

    def count_idle_sync(self) -> None:
        """A tick that found nothing to do: a sync of no time, as Go counts it."""
        with self.lock:
            self.sync_count += 1

    @contextmanager
    def timing_checkpoint(self, mode: str) -> Iterator[None]:
        start = time.monotonic()
        failed = False
        try:
            yield
        except Exception:
            failed = True
            raise
        finally:
            with self.lock:
                stats = self.checkpoints[mode]
                stats.count += 1
                stats.errors += failed
                stats.seconds += time.monotonic() - start

    def add_wal_bytes(self, size: int) -> None:
        with self.lock:
            self.total_wal_bytes += size

    def set_l0_retention(self, counts: dict[str, int]) -> None:
        with self.lock:
            self.l0_retention = {status: counts.get(status, 0) for status in L0_RETENTION_STATUSES}


class _HasStats(Protocol):
    stats: DBStats


S = TypeVar("S", bound=_HasStats)


def counts_sync(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Method decorator: each call is one sync of ``self.stats``'s database."""

    @functools.wraps(fn)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.stats.timing_sync():
            return fn(self, *args, **kwargs)

    return wrapper


def counts_checkpoint(
    fn: Callable[Concatenate[S, str, P], R],
) -> Callable[Concatenate[S, str, P], R]:
    """Method decorator for ``checkpoint(self, mode, ...)``: one checkpoint of that mode."""

    @functools.wraps(fn)
    def wrapper(self: S, mode: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.stats.timing_checkpoint(mode):
            return fn(self, mode, *args, **kwargs)

    return wrapper


@dataclass
class OperationCounts:
    """One (replica type, operation) pair: Go's replica operation families."""

    total: int = 0
    bytes: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(OPERATION_BUCKETS))
    """Observations at or below each bound of ``OPERATION_BUCKETS`` (not cumulative)."""
    observed: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Failures by error code (the core error class's short name)."""


class OperationStats:
    """Replica operations of every replica in the process, by backend type and operation
    (GET, PUT, DELETE, LIST), as Go counts them, whatever the backend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: dict[tuple[str, str], OperationCounts] = {}

    def record(
        self,
        replica_type: str,
        operation: str,
        *,
        count: int = 1,
        size: int = 0,
        seconds: float | None = None,
        error: str | None = None,
    ) -> None:
        """``count`` operations moving ``size`` bytes; ``seconds`` is observed once."""
        with self._lock:
            ops = self._ops.get((replica_type, operation))
            if ops is None:
                ops = self._ops[(replica_type, operation)] = OperationCounts()
            ops.total += count
            ops.bytes += size
            if seconds is not None:
                ops.observed += 1
                ops.seconds += seconds
                for i, bound in enumerate(OPERATION_BUCKETS):
                    if seconds <= bound:
                        ops.buckets[i] += 1
                        break
            if error is not None:
                ops.errors[error] += 1

    def add_bytes(self, replica_type: str, operation: str, size: int) -> None:
        """Bytes of an operation already counted (a download read after it started)."""
        self.record(replica_type, operation, count=0, size=size)

    def snapshot(self) -> dict[tuple[str, str], OperationCounts]:
        """A copy of every pair's counts, taken under the lock."""
        with self._lock:
            return {
                key: OperationCounts(
                    ops.total, ops.bytes, list(ops.buckets), ops.observed, ops.seconds,
                    dict(ops.errors),
                )
                for key, ops in self._ops.items()
            }  # fmt: skip
