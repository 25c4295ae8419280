"""A directory of many databases replicated by one process: ours against Go 0.5.17.

``--dbs`` small WAL databases (default 1,000) in one directory, replicated through a
single ``dir:`` entry (``pattern: "*.db"``, ``watch: true`` unless ``--no-watch``) to a
file replica, each database at base + its name, as Go lays it out. The tools run in
turn (ours, Go, Go, ours, ... ``--repeat`` rounds) on fresh copies. Measured per run:

- ``startup_s``: launch until every database's replica holds an LTX file;
- ``idle_cpu_pct``: the replicator's CPU (% of one core) over ``--idle`` seconds with
  no writes, after ``--settle`` seconds;
- ``peak_rss_mb``: its peak resident memory (VmHWM) at the end of the run;
- ``lag_p50_ms``/``lag_p99_ms``: commit to replica for light writes, ``--rate``
  commits a second spread over ``--writers`` databases (default 10) for ``--seconds``:
  each commit's lag is the time until an L0 file on its replica covers its WAL frames
  (replica directories polled every 5 ms).

Go's users report runaway CPU and memory with ~400 databases (upstream #1051).

Run: ``uv run python bench/dir_dbs.py [--dbs 1000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replication import (
    GO,
    LTX_HEADER,
    OURS,
    Position,
    WalTracker,
    go_env,
    machine,
    proc_stats,
)

MEASURES = ("startup_s", "idle_cpu_pct", "peak_rss_mb", "lag_p50_ms", "lag_p99_ms")


def make_template(work: Path, n: int) -> Path:
    """The databases, made once and copied for each run."""
    data = work / "template"
    data.mkdir()
    for i in range(n):
        conn = sqlite3.connect(data / f"db-{i:05d}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        conn.close()
    return data


def l0_positions(replica: Path) -> list[Position]:
    found = []
    try:
        names = os.listdir(replica / "ltx" / "0")
    except FileNotFoundError:
        return found
    for name in names:
        try:
            with open(replica / "ltx" / "0" / name, "rb") as f:
                fields = LTX_HEADER.unpack(f.read(LTX_HEADER.size))
        except (FileNotFoundError, IsADirectoryError, struct.error):
            continue
        found.append(Position((fields[10] << 32) | fields[11], fields[8] + fields[9]))
    return found


def wait_replicated(dbs: list[Path], replica: Path, proc: subprocess.Popen[bytes]) -> float:
    begin = time.monotonic()
    missing = list(dbs)
    while missing:
        if proc.poll() is not None:
            raise RuntimeError(f"replicator exited with {proc.returncode} during start-up")
        if time.monotonic() - begin > 900:
            raise RuntimeError(f"{len(missing)} databases not replicated after 900 s")
        # Any level: a slow start-up's first L0 files may be compacted and pruned already.
        missing = [db for db in missing if not any((replica / db.name).glob("ltx/*/*.ltx"))]
        if missing:
            time.sleep(0.1)
    return time.monotonic() - begin


def lag_run(dbs: list[Path], replica: Path, rate: float, seconds: float) -> list[float]:
    """Commits at ``rate`` a second round-robin over ``dbs``; each one's lag."""
    pending: dict[Path, list[tuple[float, Position]]] = {db: [] for db in dbs}
    lags: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.005):
            for db in dbs:
                with lock:
                    waiting = list(pending[db])
                if not waiting:
                    continue
                now = time.monotonic()
                have = l0_positions(replica / db.name)
                done = [
                    (at, pos) for at, pos in waiting
                    if any(p.salt != pos.salt or p.end >= pos.end for p in have)
                ]  # fmt: skip
                with lock:
                    for item in done:
                        pending[db].remove(item)
                        lags.append(now - item[0])

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    conns = {db: (sqlite3.connect(db, isolation_level=None), WalTracker(db)) for db in dbs}
    begin = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = begin + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        db = dbs[i % len(dbs)]
        conn, tracker = conns[db]
        conn.execute("INSERT INTO t (v) VALUES (randomblob(200))")
        with lock:
            pending[db].append((time.monotonic(), tracker.position()))
    deadline = time.monotonic() + 30
    while any(pending.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    for conn, _ in conns.values():
        conn.close()
    if left := sum(len(v) for v in pending.values()):
        print(f"  warning: {left} commits never reached the replica", flush=True)
    return lags


def run_once(tool: list[str], template: Path, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        data, replica = work / "data", work / "replica"
        shutil.copytree(template, data)
        config = work / "litestream.yml"
        config.write_text(
            f"dbs:\n  - dir: {data}\n    pattern: '*.db'\n"
            f"    watch: {'false' if args.no_watch else 'true'}\n"
            f"    replica:\n      url: file://{replica}\n"
        )
        dbs = sorted(data.glob("*.db"))
        proc = subprocess.Popen(
            [*tool, "replicate", "-config", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=go_env(),
        )  # fmt: skip
        try:
            startup = wait_replicated(dbs, replica, proc)
            time.sleep(args.settle)
            cpu0, t0 = proc_stats(proc.pid).cpu_seconds, time.monotonic()
            time.sleep(args.idle)
            idle = (proc_stats(proc.pid).cpu_seconds - cpu0) / (time.monotonic() - t0) * 100
            lags = lag_run(dbs[: args.writers], replica, args.rate, args.seconds)
            peak = proc_stats(proc.pid).peak_rss_mb
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    q = statistics.quantiles(lags, n=100) if len(lags) > 1 else [float("nan")] * 99
    return {
        "startup_s": startup,
        "idle_cpu_pct": idle,
        "peak_rss_mb": peak,
        "lag_p50_ms": q[49] * 1000,
        "lag_p99_ms": q[98] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dbs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0, help="commits a second, in all")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--no-watch", action="store_true")
    parser.add_argument("--work", default=tempfile.gettempdir())
    args = parser.parse_args()
    print(f"Machine: {machine()}; {args.dbs} databases, watch: {not args.no_watch}", flush=True)
    results: dict[str, list[dict[str, float]]] = {"ours": [], "go": []}
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        template = make_template(Path(tmp), args.dbs)
        for i in range(args.repeat):
            order = [("ours", OURS), ("go", GO)]
            for name, tool in order if i % 2 == 0 else reversed(order):
                measured = run_once(tool, template, args)
                results[name].append(measured)
                shown = ", ".join(f"{k}={v:.4g}" for k, v in measured.items())
                print(f"  round {i + 1} {name}: {shown}", flush=True)
    print("\n| measure | ours (median) | Go (median) | ours / Go (min, median) |")
    print("|---|---|---|---|")
    for m in MEASURES:
        ours = [r[m] for r in results["ours"]]
        go = [r[m] for r in results["go"]]
        ratios = [a / b if b else float("nan") for a, b in zip(ours, go, strict=True)]
        print(f"| {m} | {statistics.median(ours):.4g} | {statistics.median(go):.4g} | "
              f"{min(ratios):.2f}, {statistics.median(ratios):.2f} |")  # fmt: skip
    print(f"Machine at the end: {machine()}")


if __name__ == "__main__":
    main()
