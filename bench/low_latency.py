"""Lag with the shortest intervals: ours against Go 0.5.17, both told to hurry.

Both tools replicate one database to a file replica with ``monitor-interval`` and
``sync-interval`` of ``--interval`` (default 1 ms, the shortest Go accepts), while
the application commits 100-byte inserts at ``--rate`` (default 100) per second for
``--seconds``. Per round and tool: commit-to-replica lag p50/p99 (as in
``replication.py``: the first replica L0 file whose header covers the commit, polled
every 2 ms, so a few ms of each figure are the observer's) and CPU seconds per 1,000
transactions. Rounds interleave the tools (``--repeat``).

Run: ``uv run python bench/low_latency.py [--repeat 3] [--before PATH]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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
    table,
)
from replication import Observer, WalTracker, generation_order, lags, make_db, stop, wait_until


def run_once(tool: Tool, args: argparse.Namespace, work: Path) -> dict[str, float]:
    db, replica = work / "fast.db", work / "replica"
    conn = make_db(db)
    conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
    interval = f"{args.interval * 1000:g}ms"
    config = work / "litestream.yml"
    config.write_text(
        f"dbs:\n  - path: {db}\n    monitor-interval: {interval}\n"
        f"    replica:\n      url: file://{replica}\n      sync-interval: {interval}\n"
    )
    proc = subprocess.Popen(
        [*tool.argv, "replicate", "-config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env_for(tool),
    )
    observer = Observer(replica)
    thread = threading.Thread(target=observer.run, daemon=True)
    thread.start()
    tracker = WalTracker(db)
    commits = [(time.monotonic(), tracker.position())]
    gen = generation_order(commits)
    wait_until(observer.covers(commits[-1][1], gen), 60, "the first sync")
    time.sleep(1)
    before = cpu_seconds(proc.pid)
    first = len(commits)
    n = int(args.rate * args.seconds)
    begin = time.monotonic()
    for i in range(n):
        delay = begin + i / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        commits.append((time.monotonic(), tracker.position()))
    wait_until(observer.covers(commits[-1][1], generation_order(commits)), 60, "the replica")
    cpu = cpu_seconds(proc.pid) - before
    observer.stop.set()
    thread.join()
    stop(proc)
    conn.close()
    measured = lags(commits[first:], list(observer.seen.values()))
    q = statistics.quantiles(measured, n=100)
    return {
        "lag_p50_ms": q[49] * 1000,
        "lag_p99_ms": q[98] * 1000,
        "cpu_per_1000tx": cpu / n * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval", type=float, default=0.001, help="seconds")
    add_tool_options(parser)
    args = parser.parse_args()
    contenders = chosen_tools(args)

    def one(tool: Tool, _: int) -> dict[str, float]:
        with tempfile.TemporaryDirectory() as tmp:
            return run_once(tool, args, Path(tmp))

    results = interleave(args.repeat, contenders, one)
    print(table(results, ["lag_p50_ms", "lag_p99_ms", "cpu_per_1000tx"]))
    print(f"Machine at the end: {machine()}")


if __name__ == "__main__":
    main()
