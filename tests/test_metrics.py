"""Prometheus metrics: the ``addr`` listener of ``replicate`` and the event listener behind it."""

from __future__ import annotations

import errno
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import (
    LITESTREAM,
    Writer,
    make_bucket,
    replica_max_txid,
    s3_env,
    stop_process,
    wait_for,
    wait_for_upload,
    write_config,
)
from test_hazards_disk_full import fill

from litestream_core.config import parse_config
from litestream_core.engine.db import DB
from litestream_core.engine.instrumented import InstrumentedClient
from litestream_core.engine.stats import OperationStats
from litestream_core.engine.store import Entry, Store
from litestream_core.errors import ConfigError, LTXNotFoundError
from litestream_core.events import ReplicaLag, SyncFailed
from litestream_core.metrics import MetricsCollector, parse_addr, render
from litestream_core.testing import MemoryReplicaClient, ReplicaClientSuite, make_ltx_bytes

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

GO_DB_FAMILIES = {
    "litestream_db_size", "litestream_wal_size", "litestream_total_wal_bytes", "litestream_txid",
    "litestream_sync_count", "litestream_sync_error_count", "litestream_sync_seconds",
    "litestream_disk_full", "litestream_compaction_verify_error_count",
}  # fmt: skip
GO_FAMILIES = GO_DB_FAMILIES | {
    "litestream_checkpoint_count", "litestream_checkpoint_error_count",
    "litestream_checkpoint_seconds", "litestream_replica_operation_total",
    "litestream_replica_operation_bytes", "litestream_replica_operation_duration_seconds",
    "litestream_replica_operation_errors_total", "litestream_l0_retention_files_total",
}  # fmt: skip
"""Every family Go 0.5.17 defines (db.go, internal/internal.go)."""


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """Samples keyed by (name, labels), and each family's TYPE."""
    samples: Samples = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line[len("# TYPE ") :].split()
            types[name] = kind
        elif line and not line.startswith("#"):
            match = _SAMPLE.match(line)
            assert match, line
            labels = frozenset(_LABEL.findall(match.group(2) or ""))
            samples[(match.group(1), labels)] = float(match.group(3))
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return response.read().decode()


# -- configuration ---------------------------------------------------------------------


def test_addr_is_a_supported_key() -> None:
    cfg = parse_config("addr: 127.0.0.1:9090\ndbs:\n  - path: /a.db\n")
    assert cfg.addr == "127.0.0.1:9090"
    assert not any("addr" in w for w in cfg.warnings)
    assert parse_config("dbs:\n  - path: /a.db\n").addr is None


@pytest.mark.parametrize(
    ("addr", "expected"),
    [(":9090", ("", 9090)), ("127.0.0.1:9090", ("127.0.0.1", 9090)), ("[::1]:9", ("::1", 9))],
)
def test_parse_addr(addr: str, expected: tuple[str, int]) -> None:
    assert parse_addr(addr) == expected


@pytest.mark.parametrize("addr", ["9090", "127.0.0.1:", "host:http", "h:70000"])
def test_parse_addr_needs_a_port(addr: str) -> None:
    with pytest.raises(ConfigError, match="port"):
        parse_addr(addr)


# -- the collector on its own ----------------------------------------------------------


def _collector(tmp_path: Path) -> tuple[MetricsCollector, CollectorRegistry, Store, str]:
    db = DB(tmp_path / "a.db")
    store = Store([Entry(db, None, opened=True)])
    collector = MetricsCollector(store)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return collector, registry, store, str(db.path)


def test_every_go_family_is_there_before_anything_happened(tmp_path: Path) -> None:
    _, registry, _, db = _collector(tmp_path)
    samples, types = parse(render(registry).decode())
    for name in GO_DB_FAMILIES:
        assert (name, frozenset({("db", db)})) in samples, name
    assert set(types) >= GO_FAMILIES


def test_no_position_is_made_up_before_the_database_is_read(tmp_path: Path) -> None:
    _, registry, store, db = _collector(tmp_path)
    store.entries[0].opened = False
    samples, _ = parse(render(registry).decode())
    assert ("litestream_txid", frozenset({("db", db)})) not in samples
    assert ("litestream_sync_count", frozenset({("db", db)})) in samples


def test_sync_failures_and_disk_full(tmp_path: Path) -> None:
    _, registry, store, db = _collector(tmp_path)
    stats = store.entries[0].db.stats
    full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError), stats.timing_sync():
        raise full
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_disk_full", db=db) == 1
    assert value(samples, "litestream_sync_error_count", db=db) == 1
    with stats.timing_sync():
        stats.add_wal_bytes(4096)
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_disk_full", db=db) == 0
    assert value(samples, "litestream_sync_count", db=db) == 2
    assert value(samples, "litestream_sync_error_count", db=db) == 1
    assert value(samples, "litestream_total_wal_bytes", db=db) == 4096
    assert value(samples, "litestream_sync_seconds", db=db) > 0


def test_unexpected_errors_are_counted(tmp_path: Path) -> None:
    collector, registry, _, db = _collector(tmp_path)
    for unexpected in (True, False, True):
        collector.litestream_event(SyncFailed(db_path=db, operation="upload", replica="s3://b/p",
                                              error="x", error_class="KeyError",
                                              unexpected=unexpected))  # fmt: skip
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_unexpected_error_count", db=db) == 2


def test_lag_is_the_replica_furthest_behind(tmp_path: Path) -> None:
    """With several replicas a commit is safe once all hold it: the worst one counts."""
    collector, registry, _, db = _collector(tmp_path)
    for replica, lag, txid in (
        ("s3://a/db", 0.0, 9),
        ("file:///b", 40.0, 5),
        ("gs://c/db", 3.0, 7),
    ):
        collector.litestream_event(ReplicaLag(db_path=db, replica=replica, lag_seconds=lag,
                                              replica_txid=txid, db_txid=9))  # fmt: skip
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_replica_lag_seconds", db=db) >= 40.0
    assert value(samples, "litestream_replica_txid", db=db) == 5
    collector.litestream_event(ReplicaLag(db_path=db, replica="file:///b", lag_seconds=0.0,
                                          replica_txid=9, db_txid=9))  # fmt: skip
    samples, _ = parse(render(registry).decode())
    assert 3.0 <= value(samples, "litestream_replica_lag_seconds", db=db) < 40.0
    assert value(samples, "litestream_replica_txid", db=db) == 7


def test_checkpoints_by_mode(tmp_path: Path) -> None:
    _, registry, store, db = _collector(tmp_path)
    stats = store.entries[0].db.stats
    for mode in ("PASSIVE", "PASSIVE", "TRUNCATE"):
        with stats.timing_checkpoint(mode):
            pass
    with pytest.raises(RuntimeError), stats.timing_checkpoint("TRUNCATE"):
        raise RuntimeError("locked")
    samples, types = parse(render(registry).decode())
    assert value(samples, "litestream_checkpoint_count", db=db, mode="PASSIVE") == 2
    assert value(samples, "litestream_checkpoint_count", db=db, mode="TRUNCATE") == 2
    assert value(samples, "litestream_checkpoint_error_count", db=db, mode="TRUNCATE") == 1
    assert value(samples, "litestream_checkpoint_error_count", db=db, mode="PASSIVE") == 0
    assert value(samples, "litestream_checkpoint_seconds", db=db, mode="PASSIVE") > 0
    assert types["litestream_checkpoint_seconds"] == "counter"


def test_replica_operations_and_histogram(tmp_path: Path) -> None:
    _, registry, store, _ = _collector(tmp_path)
    ops = store.operations
    ops.record("s3", "PUT", size=100, seconds=0.003)
    ops.record("s3", "PUT", size=250, seconds=2.0)
    ops.record("s3", "DELETE", count=3, seconds=0.2, error="AccessDenied")
    text = render(registry).decode()
    samples, types = parse(text)
    total = "litestream_replica_operation_total"
    assert value(samples, total, replica_type="s3", operation="PUT") == 2
    assert value(samples, total, replica_type="s3", operation="DELETE") == 3
    assert value(samples, "litestream_replica_operation_bytes", replica_type="s3",
                 operation="PUT") == 350  # fmt: skip
    assert value(samples, "litestream_replica_operation_errors_total", replica_type="s3",
                 operation="DELETE", code="AccessDenied") == 1  # fmt: skip
    bucket = "litestream_replica_operation_duration_seconds_bucket"
    put = {"replica_type": "s3", "operation": "PUT"}
    # Go's bounds, printed as Go prints them; cumulative counts.
    assert value(samples, bucket, le="0.01", **put) == 1
    assert value(samples, bucket, le="1", **put) == 1
    assert value(samples, bucket, le="5", **put) == 2
    assert value(samples, bucket, le="+Inf", **put) == 2
    assert value(samples, "litestream_replica_operation_duration_seconds_count", **put) == 2
    assert types["litestream_replica_operation_duration_seconds"] == "histogram"
    assert types[total] == "counter"


def test_l0_retention_is_labelled_with_the_file_name(tmp_path: Path) -> None:
    _, registry, store, _ = _collector(tmp_path)
    store.entries[0].db.stats.set_l0_retention({"eligible": 2, "too_recent": 5})
    samples, types = parse(render(registry).decode())
    name = "litestream_l0_retention_files_total"
    assert value(samples, name, db="a.db", status="eligible") == 2
    assert value(samples, name, db="a.db", status="too_recent") == 5
    assert (name, frozenset({("db", "a.db"), ("status", "not_compacted")})) in samples
    assert types[name] == "gauge"


def test_a_database_registered_later_is_collected(tmp_path: Path) -> None:
    _, registry, store, _ = _collector(tmp_path)
    later = DB(tmp_path / "b.db")
    store.entries.append(Entry(later, None, opened=True))
    samples, _ = parse(render(registry).decode())
    assert ("litestream_txid", frozenset({("db", str(later.path))})) in samples


def test_metadata_names_match_sample_names(tmp_path: Path) -> None:
    """Go's counters have no ``_total`` suffix; HELP/TYPE must name the samples."""
    _, registry, store, _ = _collector(tmp_path)
    with store.entries[0].db.stats.timing_checkpoint("PASSIVE"):
        pass
    store.operations.record("file", "PUT", size=1, seconds=0.1)
    text = render(registry).decode()
    samples, types = parse(text)
    assert types["litestream_sync_count"] == "counter"
    assert "_total_total" not in text and "_created" not in text
    for name, _ in samples:
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or types.get(family) == "histogram", name


# -- counting at the client boundary ---------------------------------------------------


class TestInstrumentedConformance(ReplicaClientSuite):
    """The counting wrapper keeps every promise of the contract."""

    @pytest.fixture
    async def replica_client(self):
        client = InstrumentedClient(MemoryReplicaClient(), OperationStats())
        await client.init()
        yield client
        await client.close()


@pytest.mark.anyio
async def test_operations_are_counted_for_any_backend(tmp_path: Path) -> None:
    stats = OperationStats()
    client = InstrumentedClient(MemoryReplicaClient(), stats)
    await client.init()
    data = make_ltx_bytes(1, 1)
    await client.write_ltx_file(0, 1, 1, data)
    assert [i.max_txid async for i in client.ltx_files(0)] == [1]
    async with await client.open_ltx_file(0, 1, 1) as stream:
        assert await stream.readall() == data
    with pytest.raises(LTXNotFoundError):
        await client.open_ltx_file(0, 2, 2)
    infos = [i async for i in client.ltx_files(0)]
    await client.delete_ltx_files(infos)
    counts = stats.snapshot()
    assert counts[("memory", "PUT")].total == 1
    assert counts[("memory", "PUT")].bytes == len(data)
    assert counts[("memory", "GET")].total == 2
    assert counts[("memory", "GET")].bytes == len(data)
    assert counts[("memory", "GET")].errors == {"NotFound": 1}
    assert counts[("memory", "LIST")].total == 2
    assert counts[("memory", "DELETE")].total == 1
    assert client.type == "memory"
    assert all(c.observed == c.total for k, c in counts.items() if k[1] != "DELETE")


@pytest.mark.anyio
async def test_a_listing_left_early_still_counts(tmp_path: Path) -> None:
    stats = OperationStats()
    client = InstrumentedClient(MemoryReplicaClient(), stats)
    await client.init()
    for txid in (1, 2):
        await client.write_ltx_file(0, txid, txid, make_ltx_bytes(txid, txid))
    listing = client.ltx_files(0)
    async for _ in listing:
        break
    await listing.aclose()  # type: ignore[attr-defined]
    assert stats.snapshot()[("memory", "LIST")].total == 1


# -- replicate with addr ---------------------------------------------------------------


BUSY_CONFIG = """\
levels:
  - interval: 1s
l0-retention: 1s
l0-retention-check-interval: 1s
"""
"""Top-level keys that make a short run compact, prune L0 and so use every operation."""

BUSY_DB = "    min-checkpoint-page-count: 200\n"
"""Per-database keys that make a short run checkpoint."""


def _start(
    tmp_path: Path, addr: str, *, extra: str = "", extra_db: str = ""
) -> tuple[subprocess.Popen[bytes], Path, Path, Path]:
    db, replica, log = tmp_path / "app.db", tmp_path / "replica", tmp_path / "replicate.log"
    writer = Writer(db)
    writer.step(3)
    writer.close()
    cfg = write_config(tmp_path, db, replica, extra=f"addr: {addr}\n{extra}", extra_db=extra_db)
    with log.open("wb") as out:
        proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    return proc, db, replica, log


def _families(samples: Samples) -> dict[str, float]:
    """Each family's samples summed (a histogram by its ``_count``), for "did it move"."""
    sums: dict[str, float] = {}
    for (name, _), number in samples.items():
        if name.endswith(("_bucket", "_sum")):
            continue
        family = name.removesuffix("_count") if name.endswith("_seconds_count") else name
        sums[family] = sums.get(family, 0.0) + number
    return sums


MOVING = GO_FAMILIES - {
    # Failures: they move when something fails (tests below make them).
    "litestream_sync_error_count", "litestream_disk_full", "litestream_checkpoint_error_count",
    "litestream_replica_operation_errors_total", "litestream_compaction_verify_error_count",
}  # fmt: skip


def test_every_go_metric_moves_during_a_run(tmp_path: Path) -> None:
    port = free_port()
    proc, db, replica, _ = _start(tmp_path, f"127.0.0.1:{port}", extra=BUSY_CONFIG,
                                  extra_db=BUSY_DB)  # fmt: skip
    try:
        wait_for_upload(replica, 0)
        before, types = parse(scrape(port))
        # At start-up the gauges already show the database as it is, before any write.
        assert value(before, "litestream_db_size", db=str(db)) == db.stat().st_size
        assert value(before, "litestream_txid", db=str(db)) >= 1
        writer = Writer(db, seed=2)
        seen = _families(before)
        moved: set[str] = set()
        operations: set[str] = set()
        deadline = time.monotonic() + 30
        while (moved < MOVING or len(operations) < 4) and time.monotonic() < deadline:
            writer.step(20)
            time.sleep(0.3)
            samples = parse(scrape(port))[0]
            now = _families(samples)
            # Counters grow; a gauge moves when it changes (the WAL shrinks at checkpoints).
            moved |= {
                name for name in MOVING
                if now.get(name, 0) > seen.get(name, 0)
                or (types.get(name) == "gauge" and now.get(name, 0) != seen.get(name, 0))
            }  # fmt: skip
            operations |= {
                op for op in ("GET", "PUT", "DELETE", "LIST")
                if value(samples, "litestream_replica_operation_total", replica_type="file",
                         operation=op) > 0
            }  # fmt: skip
        writer.close()
        assert moved == MOVING, sorted(MOVING - moved)
        assert len(operations) == 4, operations
        after, types = parse(scrape(port))
        assert value(after, "litestream_sync_error_count", db=str(db)) == 0
        assert types["litestream_txid"] == "gauge"
        assert types["litestream_total_wal_bytes"] == "counter"
        with pytest.raises(urllib.error.HTTPError) as info:
            scrape(port, "/debug/pprof/")
        assert info.value.code == 404
    finally:
        assert stop_process(proc) == 0


def test_gauges_show_the_database_from_start_up(tmp_path: Path) -> None:
    """A restarted replicator reports the TXID it holds before the next write (Go: 0)."""
    first = free_port()
    proc, db, replica, _ = _start(tmp_path, f"127.0.0.1:{first}")
    wait_for_upload(replica, 0)
    txid = replica_max_txid(replica)
    # The application stays connected (without writing): the WAL outlives the replicator.
    app = sqlite3.connect(db)
    app.execute("SELECT count(*) FROM t").fetchall()
    assert stop_process(proc) == 0
    second = free_port()
    cfg = write_config(tmp_path, db, replica, extra=f"addr: 127.0.0.1:{second}\n")
    proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(lambda: _answers(second))
        samples, _ = parse(scrape(second))
        assert value(samples, "litestream_txid", db=str(db)) >= txid
        assert value(samples, "litestream_db_size", db=str(db)) == db.stat().st_size
        # The WAL offset is known once the first sync (right at start) has read the WAL.
        wait_for(lambda: value(parse(scrape(second))[0], "litestream_wal_size", db=str(db)) > 0,
                 timeout=10)  # fmt: skip
    finally:
        assert stop_process(proc) == 0
        app.close()


def _answers(port: int) -> bool:
    try:
        return "litestream_txid{" in scrape(port)
    except OSError:
        return False


def test_a_registered_database_has_metrics(tmp_path: Path) -> None:
    port, sock = free_port(), tmp_path / "ctl.sock"
    proc, _, _, _ = _start(tmp_path, f"127.0.0.1:{port}",
                           extra=f"socket:\n  enabled: true\n  path: {sock}\n")  # fmt: skip
    other = tmp_path / "other.db"
    writer = Writer(other)
    writer.step(2)
    writer.close()
    try:
        wait_for(lambda: sock.exists())
        result = subprocess.run([*LITESTREAM, "register", "-socket", str(sock), "-replica",
                                 f"file://{tmp_path / 'other-replica'}", str(other)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        wait_for(lambda: value(parse(scrape(port))[0], "litestream_txid", db=str(other)) > 0)
        samples, _ = parse(scrape(port))
        assert value(samples, "litestream_db_size", db=str(other)) == other.stat().st_size
    finally:
        assert stop_process(proc) == 0


def test_replica_operation_errors_are_counted_by_code(tmp_path: Path) -> None:
    port = free_port()
    blocked = tmp_path / "replica" / "ltx" / "1"
    blocked.parent.mkdir(parents=True)
    # Level 1 lists as empty, but every upload to it fails (its directory cannot be made).
    blocked.symlink_to(tmp_path / "nowhere")
    proc, _, replica, _ = _start(tmp_path, f"127.0.0.1:{port}", extra=BUSY_CONFIG)
    try:
        wait_for_upload(replica, 0)

        def put_errors() -> float:
            samples = parse(scrape(port))[0]
            return sum(v for (name, labels), v in samples.items()
                       if name == "litestream_replica_operation_errors_total"
                       and ("operation", "PUT") in labels)  # fmt: skip

        wait_for(lambda: put_errors() > 0, timeout=30)
    finally:
        assert stop_process(proc) == 0


def test_a_full_disk_shows_in_sync_errors_and_disk_full(tmp_path: Path, small_volume: Path) -> None:
    port = free_port()
    meta = small_volume / "meta"
    proc, db, replica, _ = _start(tmp_path, f"127.0.0.1:{port}",
                                  extra_db=f"    meta-path: {meta}\n")  # fmt: skip
    try:
        wait_for_upload(replica, 0)
        filler = fill(small_volume)
        writer = Writer(db, seed=3)

        def full() -> bool:
            writer.step(5)
            samples = parse(scrape(port))[0]
            return value(samples, "litestream_disk_full", db=str(db)) == 1

        wait_for(full, timeout=30)
        assert value(parse(scrape(port))[0], "litestream_sync_error_count", db=str(db)) > 0
        filler.unlink()
        wait_for(lambda: value(parse(scrape(port))[0], "litestream_disk_full", db=str(db)) == 0,
                 timeout=60)  # fmt: skip
        writer.close()
    finally:
        assert stop_process(proc) == 0


def _s3_config(directory: Path, db: Path, moto: int, bucket: str, port: int) -> Path:
    cfg = directory / "litestream.yml"
    cfg.write_text(
        f"addr: 127.0.0.1:{port}\n{BUSY_CONFIG}dbs:\n  - path: {db}\n    monitor-interval: 50ms\n"
        f"{BUSY_DB}    replica:\n      type: s3\n      bucket: {bucket}\n      path: app\n"
        f"      endpoint: http://127.0.0.1:{moto}\n      region: us-east-1\n"
        f"      force-path-style: true\n      sync-interval: 50ms\n"
    )
    return cfg


def test_names_labels_and_types_match_go_under_the_same_workload(
    tmp_path: Path, go_litestream: Path, go_env: dict[str, str], moto_port: int
) -> None:
    """Both tools replicate to S3 while the same application writes to each; every
    family Go exports, ours exports with the same type and label names."""
    env = s3_env()
    procs, ports, writers = [], [], []
    for name, argv, extra_env in (("ours", LITESTREAM, {}), ("go", [str(go_litestream)], go_env)):
        directory = tmp_path / name
        directory.mkdir()
        make_bucket(moto_port, f"bucket-{name}")
        db, port = directory / "app.db", free_port()
        writer = Writer(db)
        writer.step(3)
        writers.append(writer)
        cfg = _s3_config(directory, db, moto_port, f"bucket-{name}", port)
        procs.append(subprocess.Popen([*argv, "replicate", "-config", str(cfg)],
                                      env={**extra_env, **env}, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))  # fmt: skip
        ports.append(port)
    try:
        for port in ports:
            wait_for(lambda port=port: _answers(port), timeout=30)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:  # past a compaction and an L0 retention pass
            for writer in writers:
                writer.step(20)
            time.sleep(0.3)
        ours, go = (parse(scrape(port)) for port in ports)
    finally:
        for writer in writers:
            writer.close()
        for proc in procs:
            stop_process(proc)

    def labels(samples: Samples) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for name, pairs in samples:
            out.setdefault(name, set()).update(k for k, _ in pairs)
        return out

    go_families = {n for n in go[1] if n.startswith("litestream_")}
    # Go's run checkpointed, compacted, pruned L0 and called S3: most families show.
    assert {"litestream_checkpoint_count", "litestream_replica_operation_total",
            "litestream_l0_retention_files_total"} <= go_families  # fmt: skip
    assert go_families <= set(ours[1]), sorted(go_families - set(ours[1]))
    assert set(ours[1]) >= GO_FAMILIES
    for name in go_families:
        assert ours[1][name] == go[1][name], name
    go_labels, our_labels = labels(go[0]), labels(ours[0])
    for name in go_labels:
        if name.startswith("litestream_"):
            assert our_labels.get(name) == go_labels[name], name


def test_port_in_use_is_logged_and_replication_goes_on(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc, _, replica, log = _start(tmp_path, f"127.0.0.1:{busy.getsockname()[1]}")
        try:
            wait_for_upload(replica, 0)
            wait_for(lambda: "cannot start metrics server" in log.read_text())
        finally:
            assert stop_process(proc) == 0


def test_addr_without_port_is_one_error_line(tmp_path: Path) -> None:
    proc, _, _, log = _start(tmp_path, "127.0.0.1")
    assert proc.wait(60) == 1
    assert log.read_text() == "Error: must specify port for bind address: '127.0.0.1'\n"


def test_cli_imports_prometheus_only_with_addr() -> None:
    code = (
        "import sys\nfrom litestream_core.cli import main\n"
        "for args in (['--help'], ['status', '--help'], ['reset', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('prometheus_client' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.stderr.strip().splitlines()[-1] == "False", result.stderr
