"""Prometheus metrics for ``litestream replicate``: Go's families, and ``/metrics``.

The names, types, labels and buckets are Go Litestream's, so dashboards and alerts
written for the Go binary keep working; ours (replica lag, replica TXID, unexpected
errors) sit beside them. The engine knows nothing about Prometheus: it keeps plain
counters (``engine.stats``) and emits events, and the collector here reads the
store's databases at every scrape. So gauges show the real state from start-up
(size, TXID, WAL offset: read when scraped), and a database added at run time
through the control socket's ``register`` is there at the next scrape.

Only ``/metrics`` is served. Go's listener also exposes ``/debug/pprof`` on the same
port, which lets anyone who reaches it profile the process; we leave that out.

This module imports ``prometheus_client``, so it is imported only when ``addr`` is set.
"""

from __future__ import annotations

import http.server
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import HistogramMetricFamily, Metric

from litestream_core.engine.stats import L0_RETENTION_STATUSES, OPERATION_BUCKETS
from litestream_core.errors import ConfigError
from litestream_core.events import Event, LevelCheckFailed, OperationFailed, ReplicaLag
from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.engine.store import Entry, Store

log = logging.getLogger("litestream.metrics")

# Go's families (db.go, internal/internal.go) with their help texts, then ours.
_DB_GAUGES = {
    "litestream_db_size": "The current size of the real DB",
    "litestream_wal_size": "The current size of the real WAL",
    "litestream_txid": "The current transaction ID",
    "litestream_disk_full": "Whether replication is paused because the local disk is full",
}
_DB_COUNTERS = {
    "litestream_total_wal_bytes": "Total number of bytes written to shadow WAL",
    "litestream_sync_count": "Number of sync operations performed",
    "litestream_sync_error_count": "Number of sync errors that have occurred",
    "litestream_sync_seconds": "Time spent syncing shadow WAL, in seconds",
    "litestream_compaction_verify_error_count": "Number of post-compaction verification failures",
}
_CHECKPOINT_COUNTERS = {
    "litestream_checkpoint_count": "Number of checkpoint operations performed",
    "litestream_checkpoint_error_count": "Number of checkpoint errors that have occurred",
    "litestream_checkpoint_seconds": "Time spent checkpointing WAL, in seconds",
}
_POSITION = frozenset({"litestream_txid", "litestream_wal_size"})
"""Gauges known only once the database was opened (its position read from disk)."""
_OP_TOTAL = "litestream_replica_operation_total"
_OP_BYTES = "litestream_replica_operation_bytes"
_OP_DURATION = "litestream_replica_operation_duration_seconds"
_OP_ERRORS = "litestream_replica_operation_errors_total"
_L0_RETENTION = "litestream_l0_retention_files_total"
# Beyond Go.
_REPLICA_LAG = "litestream_replica_lag_seconds"
_REPLICA_TXID = "litestream_replica_txid"
_NAMED_LAG = "litestream_named_replica_lag_seconds"
_NAMED_TXID = "litestream_named_replica_txid"
_UNEXPECTED = "litestream_unexpected_error_count"
_VALIDATION_ERRORS = "litestream_validation_error_count"
_VERIFY_ERRORS = "litestream_compaction_verify_error_count"

_COUNTERS = frozenset(
    {
        *_DB_COUNTERS,
        *_CHECKPOINT_COUNTERS,
        _OP_TOTAL,
        _OP_BYTES,
        _OP_ERRORS,
        _UNEXPECTED,
        _VALIDATION_ERRORS,
    }
)
"""Every counter family: ``render`` names their HELP/TYPE lines after their samples."""


def _le(bound: float) -> str:
    """A bucket bound as Go prints it (``1``, not ``1.0``)."""
    return f"{bound:g}"


@dataclass
class _Lag:
    seconds: float = 0.0
    replica_txid: int = 0
    seen_at: float = 0.0
    """When the last ReplicaLag arrived (monotonic): a lag keeps growing until the next."""


class MetricsCollector:
    """Go's metrics for a store's databases, read at each scrape.

    It is also an event listener (add it to the run's dispatcher): the replica lag
    and unexpected errors come from events.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._lags: dict[tuple[str, str], _Lag] = {}
        """By (database, replica): with several replicas the gauges show the one furthest
        behind, since a commit is safe only once every replica holds it."""
        self._unexpected: dict[str, int] = defaultdict(int)
        self._level_checks: dict[tuple[str, str], int] = defaultdict(int)
        """Problems found by ``verify-compaction`` and ``validation``, by (db, family)."""

    @hookimpl
    def litestream_event(self, event: Event) -> None:
        match event:
            case OperationFailed(unexpected=True):
                with self._lock:
                    self._unexpected[event.db_path] += 1
            case ReplicaLag(lag_seconds=lag, replica_txid=txid):
                with self._lock:
                    self._lags[(event.db_path, event.replica)] = _Lag(lag, txid, time.monotonic())
            case LevelCheckFailed(check=check):
                name = _VERIFY_ERRORS if check == "compaction" else _VALIDATION_ERRORS
                with self._lock:
                    self._level_checks[(event.db_path, name)] += 1

    def _lag(self, path: str) -> _Lag:
        now = time.monotonic()
        lags = [
            # Still behind as of the last event: the oldest missing commit aged since.
            _Lag(lag.seconds + now - lag.seen_at, lag.replica_txid) if lag.seconds > 0 else lag
            for (db, _), lag in self._lags.items()
            if db == path
        ]
        if not lags:
            return _Lag()
        return _Lag(max(lag.seconds for lag in lags), min(lag.replica_txid for lag in lags))

    def collect(self) -> Iterator[Metric]:
        entries = sorted(self._store.entries, key=lambda e: e.db.path)
        yield from self._database_families(entries)
        yield from self._operation_families()
        yield from self._our_families(entries)

    def _database_families(self, entries: list[Entry]) -> Iterator[Metric]:
        gauges = {name: Metric(name, text, "gauge") for name, text in _DB_GAUGES.items()}
        counters = {name: Metric(name, text, "counter") for name, text in _DB_COUNTERS.items()}
        checkpoints = {
            name: Metric(name, text, "counter") for name, text in _CHECKPOINT_COUNTERS.items()
        }
        l0 = Metric(_L0_RETENTION, "Number of L0 files by status during retention enforcement",
                    "gauge")  # fmt: skip
        for entry in entries:
            db, path = entry.db, str(entry.db.path)
            labels = {"db": path}
            stats = db.stats
            with stats.lock:
                values = {
                    "litestream_wal_size": db.synced_wal_offset,
                    "litestream_txid": db.pos().txid,
                    "litestream_disk_full": int(stats.disk_full),
                    "litestream_total_wal_bytes": stats.total_wal_bytes,
                    "litestream_sync_count": stats.sync_count,
                    "litestream_sync_error_count": stats.sync_error_count,
                    "litestream_sync_seconds": stats.sync_seconds,
                }
                modes = {
                    mode: (c.count, c.errors, c.seconds) for mode, c in stats.checkpoints.items()
                }
                retention = dict(stats.l0_retention)
            values["litestream_db_size"] = _file_size(path)
            with self._lock:
                values[_VERIFY_ERRORS] = self._level_checks.get((path, _VERIFY_ERRORS), 0)
            for name, metric in (*gauges.items(), *counters.items()):
                if name in _POSITION and not entry.opened and not values[name]:
                    continue  # not read from disk yet: absent, not a false 0
                metric.add_sample(name, labels, float(values[name]))
            for mode, numbers in sorted(modes.items()):
                for metric, number in zip(checkpoints.values(), numbers, strict=True):
                    metric.add_sample(metric.name, {"db": path, "mode": mode}, float(number))
            # Go labels this family with the database's file name, not its path.
            for status in L0_RETENTION_STATUSES if retention else ():
                l0.add_sample(_L0_RETENTION, {"db": os.path.basename(path), "status": status},
                              float(retention[status]))  # fmt: skip
        yield from gauges.values()
        yield from counters.values()
        yield from checkpoints.values()
        yield l0

    def _operation_families(self) -> Iterator[Metric]:
        ops = sorted(self._store.operations.snapshot().items())
        total = Metric(_OP_TOTAL, "The number of replica operations performed", "counter")
        size = Metric(_OP_BYTES, "The number of bytes used by replica operations", "counter")
        errors = Metric(
            _OP_ERRORS, "Number of replica operation errors by type, operation, and error code",
            "counter",
        )  # fmt: skip
        duration = HistogramMetricFamily(
            _OP_DURATION, "Duration of replica operations by type and operation",
            labels=("replica_type", "operation"),
        )  # fmt: skip
        for (kind, operation), counts in ops:
            labels = {"replica_type": kind, "operation": operation}
            total.add_sample(_OP_TOTAL, labels, float(counts.total))
            if operation in ("GET", "PUT"):  # the operations that move bytes, as in Go
                size.add_sample(_OP_BYTES, labels, float(counts.bytes))
            for code, count in sorted(counts.errors.items()):
                errors.add_sample(_OP_ERRORS, {**labels, "code": code}, float(count))
            cumulative, buckets = 0, []
            for bound, count in zip(OPERATION_BUCKETS, counts.buckets, strict=True):
                cumulative += count
                buckets.append((_le(bound), float(cumulative)))
            buckets.append(("+Inf", float(counts.observed)))
            duration.add_metric([kind, operation], buckets, counts.seconds)
        yield from (total, size, duration, errors)

    def _our_families(self, entries: list[Entry]) -> Iterator[Metric]:
        lag = Metric(_REPLICA_LAG, "Age in seconds of the oldest local commit the replica "
                     "does not hold yet", "gauge")  # fmt: skip
        txid = Metric(_REPLICA_TXID, "The newest transaction ID the replica holds", "gauge")
        unexpected = Metric(_UNEXPECTED, "Unexpected exceptions (bugs) in replication loops",
                            "counter")  # fmt: skip
        validation = Metric(_VALIDATION_ERRORS, "Number of replica level problems found by "
                            "validation", "counter")  # fmt: skip
        with self._lock:
            for entry in entries:
                path = str(entry.db.path)
                labels = {"db": path}
                behind = self._lag(path)
                lag.add_sample(_REPLICA_LAG, labels, behind.seconds)
                txid.add_sample(_REPLICA_TXID, labels, float(behind.replica_txid))
                unexpected.add_sample(_UNEXPECTED, labels, float(self._unexpected.get(path, 0)))
                problems = self._level_checks.get((path, _VALIDATION_ERRORS), 0)
                validation.add_sample(_VALIDATION_ERRORS, labels, float(problems))
        yield from (lag, txid, unexpected, validation)
        yield from self._named_replicas(entries)

    def _named_replicas(self, entries: list[Entry]) -> Iterator[Metric]:
        """Beyond Go: each replica's lag and TXID, labelled by its name, for the
        databases with several replicas."""
        lag = Metric(_NAMED_LAG, "Age in seconds of the oldest local commit this replica "
                     "does not hold yet (databases with several replicas)", "gauge")  # fmt: skip
        txid = Metric(_NAMED_TXID, "The newest transaction ID this replica holds "
                      "(databases with several replicas)", "gauge")  # fmt: skip
        now = time.monotonic()
        with self._lock:
            for entry in entries:
                if len(entry.replicas) < 2:
                    continue
                path = str(entry.db.path)
                for replica in sorted(entry.replicas, key=lambda r: r.name):
                    seen = self._lags.get((path, replica.name), _Lag())
                    labels = {"db": path, "replica": replica.name}
                    behind = seen.seconds + (now - seen.seen_at if seen.seconds > 0 else 0.0)
                    lag.add_sample(_NAMED_LAG, labels, behind)
                    txid.add_sample(_NAMED_TXID, labels, float(seen.replica_txid))
        yield lag
        yield txid


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format, with counters under Go's exact names.

    prometheus_client names a counter family ``<name>_total`` in its HELP and TYPE
    lines whatever the sample is called. Go's counters (``litestream_sync_count``) have
    no such suffix, and a family whose metadata names differ from its samples confuses
    scrapers, so the metadata lines are put back to the sample names.
    """
    lines = generate_latest(registry).decode("utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(("# HELP ", "# TYPE ")):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            if name.endswith("_total") and name[: -len("_total")] in _COUNTERS:
                lines[i] = f"# {kind} {name[: -len('_total')]} {rest}"
    return "".join(lines).encode("utf-8")


def parse_addr(addr: str) -> tuple[str, int]:
    """``host:port`` as Go's ``net.SplitHostPort`` reads it; the port is required."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port:
        raise ConfigError(f"must specify port for bind address: {addr!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"invalid port in bind address: {addr!r}") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"invalid port in bind address: {addr!r}")
    return host, number


class MetricsServer:
    """``GET /metrics`` over HTTP on a daemon thread; every other path is a 404."""

    def __init__(self, addr: str, registry: CollectorRegistry) -> None:
        host, port = parse_addr(addr)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = render(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes every few seconds are not worth a log line."""

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        self._server = Server((host, port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="litestream-metrics", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_metrics(store: Store, addr: str) -> tuple[MetricsCollector, MetricsServer | None]:
    """The collector of ``store``'s metrics and, if ``addr`` can be bound, its HTTP server.

    As in Go, a listener that cannot bind (port in use) is logged and replication runs
    on without metrics: a monitoring problem must not stop disaster recovery. A
    malformed ``addr`` is a configuration error.
    """
    collector = MetricsCollector(store)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    try:
        server = MetricsServer(addr, registry)
    except OSError as exc:
        log.error("cannot start metrics server; replication goes on without it",
                  extra={"addr": addr, "error": exc.strerror or str(exc)})  # fmt: skip
        return collector, None
    shown = addr if not addr.startswith(":") else f"localhost{addr}"
    log.info("serving metrics", extra={"url": f"http://{shown}/metrics"})
    return collector, server
