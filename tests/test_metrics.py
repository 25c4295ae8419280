"""Prometheus metrics: the ``addr`` listener of ``replicate`` and the event listener behind it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import (
    LITESTREAM,
    Writer,
    replica_max_txid,
    stop_process,
    wait_for,
    wait_for_upload,
    write_config,
)

from litestream_core.config import parse_config
from litestream_core.errors import ConfigError
from litestream_core.events import (
    CheckpointCompleted,
    LTXFileUploaded,
    LTXFileWritten,
    RetentionEnforced,
    SyncFailed,
)
from litestream_core.metrics import MetricsListener, Target, parse_addr, render

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


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


# -- the listener on its own ---------------------------------------------------------


def _listener(tmp_path: Path) -> tuple[MetricsListener, CollectorRegistry, str]:
    db = str(tmp_path / "a.db")
    listener = MetricsListener([Target(db, tmp_path / ".a.db-litestream", "s3")])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(listener)
    return listener, registry, db


def test_sync_failures_and_disk_full(tmp_path: Path) -> None:
    listener, registry, db = _listener(tmp_path)
    listener.litestream_event(SyncFailed(db_path=db, operation="sync", error="OSError: [Errno 28] "
                                         "No space left on device", error_class="OSError",
                                         attempt=1))  # fmt: skip
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_disk_full", db=db) == 1
    assert value(samples, "litestream_sync_error_count", db=db) == 1
    listener.litestream_event(LTXFileWritten(db_path=db, level=0, min_txid=7, max_txid=7, size=10))
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_disk_full", db=db) == 0
    assert value(samples, "litestream_txid", db=db) == 7
    assert value(samples, "litestream_sync_count", db=db) == 2
    assert value(samples, "litestream_sync_error_count", db=db) == 1


def test_replica_failures_are_not_database_sync_errors(tmp_path: Path) -> None:
    listener, registry, db = _listener(tmp_path)
    listener.litestream_event(SyncFailed(db_path=db, operation="upload", replica="s3://b/p",
                                         error="timeout",
                                         error_class="TransientReplicaError"))  # fmt: skip
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_sync_error_count", db=db) == 0


def test_unexpected_errors_are_counted(tmp_path: Path) -> None:
    listener, registry, db = _listener(tmp_path)
    for unexpected in (True, False, True):
        listener.litestream_event(SyncFailed(db_path=db, operation="upload", replica="s3://b/p",
                                             error="x", error_class="KeyError",
                                             unexpected=unexpected))  # fmt: skip
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_unexpected_error_count", db=db) == 2


def test_checkpoints_and_replica_operations(tmp_path: Path) -> None:
    listener, registry, db = _listener(tmp_path)
    for mode in ("PASSIVE", "PASSIVE", "TRUNCATE"):
        listener.litestream_event(CheckpointCompleted(db_path=db, mode=mode))
    for size in (100, 250):
        listener.litestream_event(LTXFileUploaded(db_path=db, replica="s3://b/p", level=0,
                                                  min_txid=1, max_txid=1, size=size))  # fmt: skip
    listener.litestream_event(RetentionEnforced(db_path=db, level=0, deleted=3))
    listener.litestream_event(RetentionEnforced(db_path="/other.db", level=0, deleted=5))
    samples, types = parse(render(registry).decode())
    assert value(samples, "litestream_checkpoint_count", db=db, mode="PASSIVE") == 2
    assert value(samples, "litestream_checkpoint_count", db=db, mode="TRUNCATE") == 1
    ops = "litestream_replica_operation_total"
    assert value(samples, ops, replica_type="s3", operation="PUT") == 2
    assert value(samples, ops, replica_type="s3", operation="DELETE") == 3
    assert value(samples, "litestream_replica_operation_bytes", replica_type="s3",
                 operation="PUT") == 350  # fmt: skip
    assert types[ops] == types["litestream_checkpoint_count"] == "counter"


def test_metadata_names_match_sample_names(tmp_path: Path) -> None:
    """Go's counters have no ``_total`` suffix; HELP/TYPE must name the samples."""
    listener, registry, db = _listener(tmp_path)
    listener.litestream_event(CheckpointCompleted(db_path=db, mode="PASSIVE"))
    listener.litestream_event(RetentionEnforced(db_path=db, level=0, deleted=1))
    text = render(registry).decode()
    samples, types = parse(text)
    assert types["litestream_sync_count"] == "counter"
    assert "_total_total" not in text and "_created" not in text
    for name, _ in samples:
        assert name in types, name


# -- replicate with addr ---------------------------------------------------------------


def _start(tmp_path: Path, addr: str) -> tuple[subprocess.Popen[bytes], Path, Path, Path]:
    db, replica, log = tmp_path / "app.db", tmp_path / "replica", tmp_path / "replicate.log"
    writer = Writer(db)
    writer.step(3)
    writer.close()
    cfg = write_config(tmp_path, db, replica, extra=f"addr: {addr}\n")
    with log.open("wb") as out:
        proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    return proc, db, replica, log


def test_replicate_serves_metrics_that_move(tmp_path: Path) -> None:
    port = free_port()
    proc, db, replica, _ = _start(tmp_path, f"127.0.0.1:{port}")
    try:
        wait_for_upload(replica, 0)
        wait_for(lambda: value(parse(scrape(port))[0], "litestream_txid", db=str(db)) > 0)
        before, types = parse(scrape(port))
        writer = Writer(db, seed=2)
        writer.step(5)
        writer.close()
        txid = replica_max_txid(replica)
        wait_for_upload(replica, txid)

        def moved() -> bool:
            after = parse(scrape(port))[0]
            return value(after, "litestream_txid", db=str(db)) > value(
                before, "litestream_txid", db=str(db)
            ) and value(after, "litestream_replica_operation_total", replica_type="file",
                        operation="PUT") > value(before, "litestream_replica_operation_total",
                                                 replica_type="file", operation="PUT")  # fmt: skip

        wait_for(moved)
        after = parse(scrape(port))[0]
        for name in ("litestream_sync_count", "litestream_total_wal_bytes"):
            assert value(after, name, db=str(db)) > value(before, name, db=str(db)), name
        assert value(after, "litestream_db_size", db=str(db)) > 0
        assert value(after, "litestream_wal_size", db=str(db)) > 0
        assert value(after, "litestream_sync_error_count", db=str(db)) == 0
        assert types["litestream_txid"] == "gauge"
        assert types["litestream_total_wal_bytes"] == "counter"
        with pytest.raises(urllib.error.HTTPError) as info:
            scrape(port, "/debug/pprof/")
        assert info.value.code == 404
    finally:
        assert stop_process(proc) == 0


def test_families_match_go(tmp_path: Path, go_litestream: Path, go_env: dict[str, str]) -> None:
    """Every litestream_* family both binaries export has the same TYPE and label names."""
    ours_dir, go_dir = tmp_path / "ours", tmp_path / "go"
    ours_dir.mkdir()
    go_dir.mkdir()
    ours_port, go_port = free_port(), free_port()
    proc, _, replica, _ = _start(ours_dir, f"127.0.0.1:{ours_port}")
    go_db = go_dir / "app.db"
    writer = Writer(go_db)
    writer.step(3)
    writer.close()
    go_cfg = write_config(go_dir, go_db, go_dir / "replica", extra=f"addr: 127.0.0.1:{go_port}\n")
    go_proc = subprocess.Popen([str(go_litestream), "replicate", "-config", str(go_cfg)],
                               env=go_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_upload(replica, 0)
        wait_for_upload(go_dir / "replica", 0)
        wait_for(lambda: "litestream_txid{" in scrape(go_port))
        ours, go = parse(scrape(ours_port)), parse(scrape(go_port))
    finally:
        stop_process(go_proc)
        stop_process(proc)

    def labels(samples: Samples) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for name, pairs in samples:
            out.setdefault(name, set()).update(k for k, _ in pairs)
        return out

    shared = {n for n in ours[1] if n.startswith("litestream_")} & set(go[1])
    assert {"litestream_txid", "litestream_sync_count", "litestream_db_size"} <= shared
    for name in shared:
        assert ours[1][name] == go[1][name], name
        assert labels(ours[0]).get(name) == labels(go[0]).get(name), name


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
