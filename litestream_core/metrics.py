"""Prometheus metrics for ``litestream replicate``: an event listener and ``/metrics``.

The names, types and labels are Go Litestream's, so dashboards and alerts written for
the Go binary keep working. The values come from engine events only: the engine knows
nothing about Prometheus. Where an event lacks a number, the listener finds it itself
(the database size by ``stat``, the synced WAL range from the new L0 file's header).

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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from litestream_core.errors import ConfigError, LitestreamError
from litestream_core.events import (
    CheckpointCompleted,
    CompactionCompleted,
    Event,
    LevelCheckFailed,
    LTXFileUploaded,
    LTXFileWritten,
    OperationFailed,
    ReplicaLag,
    RetentionEnforced,
    SyncFailed,
)
from litestream_core.hookspecs import hookimpl
from litestream_core.ltx import HEADER_SIZE, Header, format_filename

log = logging.getLogger("litestream.metrics")

_REPLICA_LAG = "litestream_replica_lag_seconds"
_NAMED_LAG = "litestream_named_replica_lag_seconds"
_NAMED_TXID = "litestream_named_replica_txid"

# Go's metric names (db.go and internal/internal.go), with their help texts.
_DB_GAUGES = {
    "litestream_db_size": "The current size of the real DB",
    "litestream_wal_size": "The current size of the real WAL",
    "litestream_txid": "The current transaction ID",
    "litestream_disk_full": "Whether replication is paused because the local disk is full",
    # Beyond Go: how far the replica is behind (engine.watchdog's ReplicaLag events).
    _REPLICA_LAG: "Age in seconds of the oldest local commit the replica does not hold yet",
    "litestream_replica_txid": "The newest transaction ID the replica holds",
}
_DB_COUNTERS = {
    "litestream_total_wal_bytes": "Total number of bytes written to shadow WAL",
    "litestream_sync_count": "Number of sync operations performed",
    "litestream_sync_error_count": "Number of sync errors that have occurred",
    "litestream_unexpected_error_count": "Unexpected exceptions (bugs) in replication loops",
    "litestream_compaction_verify_error_count": "Number of post-compaction verification failures",
    # Beyond Go: problems found by the periodic level check (validation.interval).
    "litestream_validation_error_count": "Number of replica level problems found by validation",
}
_CHECKPOINT_COUNT = "litestream_checkpoint_count"
_REPLICA_OPS = "litestream_replica_operation_total"
_REPLICA_BYTES = "litestream_replica_operation_bytes"
_COUNTERS = frozenset({*_DB_COUNTERS, _CHECKPOINT_COUNT, _REPLICA_OPS, _REPLICA_BYTES})

_DISK_FULL_MARKERS = ("No space left on device", "disk is full", "ENOSPC")


@dataclass(frozen=True)
class Target:
    """What the listener needs to know about one replicated database."""

    db_path: str
    meta_path: Path
    replica_type: str | None
    """The (first) replica's type, for the replica operation counters."""
    replica_types: Mapping[str, str] = field(default_factory=dict)
    """Beyond Go: each replica's type by its name, for a database with several."""


@dataclass
class _DBValues:
    gauges: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_DB_GAUGES, 0.0))
    counters: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_DB_COUNTERS, 0.0))
    checkpoints: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    lag_seen_at: float = 0.0
    """When the last ReplicaLag arrived (monotonic): a lag keeps growing until the next."""
    replicas: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    """Each replica's (lag, TXID, when seen) by name; the database's own lag and TXID
    gauges are those of the replica furthest behind."""


class MetricsListener:
    """Turns engine events into Go's metrics; register it with the plugin manager.

    It is also a prometheus_client collector: each scrape reads the current values.
    """

    def __init__(self, targets: Iterable[Target]) -> None:
        self._targets = {t.db_path: t for t in targets}
        self._lock = threading.Lock()
        self._dbs = {path: _DBValues() for path in self._targets}
        self._ops: dict[tuple[str, str], float] = defaultdict(float)
        self._op_bytes: dict[tuple[str, str], float] = defaultdict(float)

    @hookimpl
    def litestream_event(self, event: Event) -> None:
        values = self._dbs.get(event.db_path)
        target = self._targets.get(event.db_path)
        if values is None or target is None:
            return
        if isinstance(event, OperationFailed) and event.unexpected:
            with self._lock:
                values.counters["litestream_unexpected_error_count"] += 1
        match event:
            case LTXFileWritten(level=0, max_txid=txid):
                self._on_sync(target, values, txid)
            case SyncFailed(replica=None, operation="sync", error=error):
                with self._lock:
                    values.counters["litestream_sync_count"] += 1
                    values.counters["litestream_sync_error_count"] += 1
                    full = any(marker in error for marker in _DISK_FULL_MARKERS)
                    values.gauges["litestream_disk_full"] = 1.0 if full else 0.0
            case ReplicaLag(replica=replica, lag_seconds=lag, replica_txid=txid):
                with self._lock:
                    values.replicas[replica] = (lag, float(txid), time.monotonic())
                    worst = min(values.replicas.values(), key=lambda r: (r[1], -r[0]))
                    values.gauges[_REPLICA_LAG] = worst[0]
                    values.gauges["litestream_replica_txid"] = worst[1]
                    values.lag_seen_at = worst[2]
            case CheckpointCompleted(mode=mode):
                with self._lock:
                    values.checkpoints[mode] += 1
            case LTXFileUploaded(replica=replica, size=size):
                self._count_op(target, "PUT", 1, size, replica)
            case CompactionCompleted():
                self._count_op(target, "PUT", 1, 0)
            case RetentionEnforced(deleted=deleted):
                self._count_op(target, "DELETE", deleted, 0)
            case LevelCheckFailed(check=check):
                name = ("litestream_compaction_verify_error_count" if check == "compaction"
                        else "litestream_validation_error_count")  # fmt: skip
                with self._lock:
                    values.counters[name] += 1

    def _on_sync(self, target: Target, values: _DBValues, txid: int) -> None:
        """A sync wrote an L0 file: the synced WAL range is in that file's header."""
        db_size = _file_size(target.db_path)
        header = _read_header(target.meta_path / "ltx" / "0" / format_filename(txid, txid))
        with self._lock:
            values.counters["litestream_sync_count"] += 1
            values.gauges["litestream_txid"] = float(txid)
            values.gauges["litestream_disk_full"] = 0.0
            if db_size is not None:
                values.gauges["litestream_db_size"] = float(db_size)
            if header is not None:
                values.counters["litestream_total_wal_bytes"] += header.wal_size
                values.gauges["litestream_wal_size"] = float(header.wal_offset + header.wal_size)

    def _count_op(
        self, target: Target, operation: str, count: int, size: int, replica: str | None = None
    ) -> None:
        kind = target.replica_types.get(replica or "", target.replica_type)
        if kind is None:
            return
        key = (kind, operation)
        with self._lock:
            self._ops[key] += count
            self._op_bytes[key] += size

    @staticmethod
    def _gauge(values: _DBValues, name: str) -> float:
        value = values.gauges[name]
        if name == _REPLICA_LAG and value > 0:
            # Still behind as of the last event: the oldest missing commit aged since.
            value += time.monotonic() - values.lag_seen_at
        return value

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            for name, help_text in _DB_GAUGES.items():
                metric = Metric(name, help_text, "gauge")
                for path, values in self._dbs.items():
                    metric.add_sample(name, {"db": path}, self._gauge(values, name))
                yield metric
            yield from self._named_replicas()
            for name, help_text in _DB_COUNTERS.items():
                metric = Metric(name, help_text, "counter")
                for path, values in self._dbs.items():
                    metric.add_sample(name, {"db": path}, values.counters[name])
                yield metric
            checkpoints = Metric(
                _CHECKPOINT_COUNT, "Number of checkpoint operations performed", "counter"
            )
            for path, values in self._dbs.items():
                for mode, count in sorted(values.checkpoints.items()):
                    checkpoints.add_sample(_CHECKPOINT_COUNT, {"db": path, "mode": mode}, count)
            yield checkpoints
            for name, help_text, table in (
                (_REPLICA_OPS, "The number of replica operations performed", self._ops),
                (_REPLICA_BYTES, "The number of bytes used by replica operations",
                 self._op_bytes),
            ):  # fmt: skip
                metric = Metric(name, help_text, "counter")
                for (kind, operation), value in sorted(table.items()):
                    metric.add_sample(name, {"replica_type": kind, "operation": operation}, value)
                yield metric

    def _named_replicas(self) -> Iterator[Metric]:
        """Beyond Go: each replica's lag and TXID, labelled by its name, for the
        databases with several replicas (the lock is held)."""
        lag = Metric(_NAMED_LAG, "Age in seconds of the oldest local commit this replica "
                     "does not hold yet (databases with several replicas)", "gauge")  # fmt: skip
        txid = Metric(_NAMED_TXID, "The newest transaction ID this replica holds "
                      "(databases with several replicas)", "gauge")  # fmt: skip
        now = time.monotonic()
        for path, values in self._dbs.items():
            if len(values.replicas) < 2:
                continue
            for name, (behind, held, seen) in sorted(values.replicas.items()):
                labels = {"db": path, "replica": name}
                lag.add_sample(_NAMED_LAG, labels, behind + (now - seen if behind > 0 else 0.0))
                txid.add_sample(_NAMED_TXID, labels, held)
        yield lag
        yield txid


def _file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _read_header(path: Path) -> Header | None:
    """The header of a local LTX file, or None if it is gone (L0 retention) or unreadable."""
    try:
        with path.open("rb") as f:
            return Header.decode(f.read(HEADER_SIZE))
    except (OSError, LitestreamError):
        return None


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


def start_metrics(
    addr: str, targets: Iterable[Target]
) -> tuple[MetricsListener, MetricsServer | None]:
    """The listener for ``targets`` and, if ``addr`` can be bound, its HTTP server.

    As in Go, a listener that cannot bind (port in use) is logged and replication runs
    on without metrics: a monitoring problem must not stop disaster recovery. A
    malformed ``addr`` is a configuration error.
    """
    listener = MetricsListener(targets)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(listener)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    try:
        server = MetricsServer(addr, registry)
    except OSError as exc:
        log.error("cannot start metrics server on %s: %s", addr, exc.strerror or exc)
        return listener, None
    shown = addr if not addr.startswith(":") else f"localhost{addr}"
    log.info("serving metrics on http://%s/metrics", shown)
    return listener, server
