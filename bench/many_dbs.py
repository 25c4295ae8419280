"""Many databases in one replicator process: ours against Go Litestream 0.5.17.

For ``--dbs`` databases (default 1,000; each a small WAL database with one row, in one
directory, and a file replica of its own at ``replica/<name>``), both tools are started
with the same YAML config, one ``dbs:`` entry per database (or with ``--dir`` one
``dir:`` entry, ``pattern: "*.db"``, ``watch: true``, whose replica base puts each
database at the same place: Go's layout), in turn (A, B, A, B, ... ``--repeat``
rounds). Measured per run:

- ``startup_s``: launch until every replica holds an L0 file (each database's first
  snapshot is on its replica);
- ``idle_cpu_pct``: CPU of the replicator (% of one core) over ``--idle`` seconds of
  no writes, after a few seconds of settling;
- ``rss_mb``: its resident memory at the end of that idle period;
- ``lag_p50_ms``/``lag_p99_ms``: commit to replica for ``--lag-rate`` commits a second
  spread round-robin over the databases (the first ``--writers`` of them, if given)
  for ``--lag-seconds`` (lag as in
  ``replication.py``: the first replica L0 file whose LTX header covers the commit's
  WAL frames, polled every 5 ms);
- ``stop_s``: SIGTERM to exit (a run that does not exit within ``--stop-timeout`` is
  killed and reported as that timeout).

Run: ``uv run python bench/many_dbs.py [--dbs 1000] [--repeat 3] [--before PATH]``
(``--before`` adds another build of ours, e.g. main's venv, to the same rounds). For
10,000 databases: ``--dbs 10000 --repeat 1 --nofile 200000`` (as root: both tools need
some 5 to 9 descriptors per database). A watched directory with light writes to 10 of
its databases: ``--dir --writers 10 --lag-rate 10 --lag-seconds 30``. ``--no-lease``
turns off our lease (beyond Go: a renewal per database every 7.5 s), to see its share.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    Tool,
    add_tool_options,
    chosen_tools,
    cpu_seconds,
    env_for,
    interleave,
    machine,
    memory_mb,
    table,
)
from replication import LTX_HEADER, Position, WalTracker


def make_databases(work: Path, n: int) -> list[Path]:
    paths = []
    (work / "data").mkdir()
    for i in range(n):
        path = work / "data" / f"db-{i:05d}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        conn.close()
        paths.append(path)
    return paths


def write_config(work: Path, dbs: list[Path], timeout: float, directory: bool) -> Path:
    lines = [f"shutdown-sync-timeout: {timeout:g}s", "dbs:"]
    if directory:
        lines += [f"  - dir: {work / 'data'}", "    pattern: '*.db'", "    watch: true",
                  "    replica:", f"      url: file://{work / 'replica'}"]  # fmt: skip
    for db in [] if directory else dbs:
        lines += [f"  - path: {db}", "    replica:", f"      url: file://{replica_of(db)}"]
    config = work / "litestream.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


def replica_of(db: Path) -> Path:
    """Base + name, as a ``dir:`` entry's replica puts each database."""
    return db.parent.with_name("replica") / db.name


def l0_headers(replica: Path) -> list[Position]:
    found = []
    try:
        names = os.listdir(replica / "ltx" / "0")
    except FileNotFoundError:
        return found
    for name in names:
        if not name.endswith(".ltx"):
            continue
        try:
            with open(replica / "ltx" / "0" / name, "rb") as f:
                fields = LTX_HEADER.unpack(f.read(LTX_HEADER.size))
        except (FileNotFoundError, struct.error):
            continue
        found.append(Position((fields[10] << 32) | fields[11], fields[8] + fields[9]))
    return found


@dataclass
class LagWatch:
    """Commits waiting to reach their replica, polled every 5 ms by one thread."""

    pending: dict[Path, tuple[float, Position]] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, db: Path, at: float, pos: Position) -> None:
        with self.lock:
            self.pending.setdefault(db, (at, pos))  # the older commit decides

    def run(self) -> None:
        while not self.stop.wait(0.005):
            with self.lock:
                items = list(self.pending.items())
            now = time.monotonic()
            for db, (at, pos) in items:
                if any(p.salt != pos.salt or p.end >= pos.end for p in l0_headers(replica_of(db))):
                    with self.lock:
                        if self.pending.get(db) == (at, pos):
                            del self.pending[db]
                    self.lags.append(now - at)


def wait_all_replicated(dbs: list[Path], proc: subprocess.Popen[bytes], limit: float) -> float:
    started = time.monotonic()
    missing = list(dbs)
    while missing:
        if proc.poll() is not None:
            raise RuntimeError(f"replicator exited with {proc.returncode} during start-up")
        if time.monotonic() - started > limit:
            raise RuntimeError(f"{len(missing)} databases not replicated after {limit:g}s")
        missing = [db for db in missing if not l0_headers(replica_of(db))]
        if missing:
            time.sleep(0.05)
    return time.monotonic() - started


def run_once(tool: Tool, args: argparse.Namespace, base: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        work = Path(tmp)
        dbs = make_databases(work, args.dbs)
        config = write_config(work, dbs, args.shutdown_timeout, args.dir)
        if args.no_lease and not tool.is_go:  # Go has no lease (and no such key)
            config.write_text("lease:\n  enabled: false\n" + config.read_text())
        proc = subprocess.Popen(
            [*tool.argv, "replicate", "-config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env_for(tool),
            preexec_fn=(lambda: _nofile(args.nofile)) if args.nofile else None,
        )
        try:
            startup = wait_all_replicated(dbs, proc, args.startup_limit)
            time.sleep(args.settle)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(args.idle)
            idle_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0) * 100
            rss, _ = memory_mb(proc.pid)
            lag = lag_run(dbs[: args.writers or None], args.lag_rate, args.lag_seconds)
            t_stop = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(args.stop_timeout)
                stop = time.monotonic() - t_stop
            except subprocess.TimeoutExpired:
                stop = args.stop_timeout
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    q = statistics.quantiles(lag, n=100) if len(lag) > 1 else [float("nan")] * 99
    return {
        "startup_s": startup,
        "idle_cpu_pct": idle_cpu,
        "rss_mb": rss,
        "lag_p50_ms": q[49] * 1000,
        "lag_p99_ms": q[98] * 1000,
        "stop_s": stop,
    }


def lag_run(dbs: list[Path], rate: float, seconds: float) -> list[float]:
    watch = LagWatch()
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    conns: dict[Path, tuple[sqlite3.Connection, WalTracker]] = {}
    n = int(rate * seconds)
    begin = time.monotonic()
    for i in range(n):
        delay = begin + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        db = dbs[(i * 7919) % len(dbs)]
        if db not in conns:
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            conns[db] = (conn, WalTracker(db))
        conn, tracker = conns[db]
        conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        watch.add(db, time.monotonic(), tracker.position())
    deadline = time.monotonic() + 30
    while watch.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    watch.stop.set()
    thread.join()
    for conn, _ in conns.values():
        conn.close()
    if watch.pending:
        print(f"  warning: {len(watch.pending)} commits never reached the replica", flush=True)
    return watch.lags


def _nofile(limit: int) -> None:
    """Both tools get the same open-files limit (10,000 databases need ~90,000)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def _allowed_nofile(wanted: int) -> int:
    """``wanted``, or the hard limit where it cannot be raised (root without
    CAP_SYS_RESOURCE, as in some containers): said once, not a failed ``preexec_fn``."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if not wanted or hard == resource.RLIM_INFINITY or wanted <= hard:
        return wanted
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, wanted))
    except (ValueError, OSError):
        print(f"  open-files limit: cannot raise the hard limit {hard} here; using {hard}")
        return hard
    return wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dbs", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--lag-rate", type=float, default=50.0, help="commits a second")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--shutdown-timeout", type=float, default=30.0)
    parser.add_argument("--stop-timeout", type=float, default=120.0)
    parser.add_argument("--startup-limit", type=float, default=600.0)
    parser.add_argument("--work", default=tempfile.gettempdir(), help="where databases go")
    parser.add_argument("--nofile", type=int, default=0, help="open-files limit for the tools")
    parser.add_argument("--dir", action="store_true", help="one watched dir: entry")
    parser.add_argument("--writers", type=int, default=0, help="databases written (0: all)")
    parser.add_argument(
        "--no-lease", action="store_true", help="ours without its lease (Go has none)"
    )
    add_tool_options(parser)
    args = parser.parse_args()
    args.nofile = _allowed_nofile(args.nofile)
    contenders = chosen_tools(args)
    print(f"{args.dbs} databases{' in a watched dir: entry' if args.dir else ''}", flush=True)
    results = interleave(args.repeat, contenders, lambda t, _: run_once(t, args, Path(args.work)))
    measures = ["startup_s", "idle_cpu_pct", "rss_mb", "lag_p50_ms", "lag_p99_ms", "stop_s"]
    print(table(results, measures))
    print(f"Machine at the end: {machine()}")


if __name__ == "__main__":
    main()
