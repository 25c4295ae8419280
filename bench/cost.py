"""Cost of replication per transaction, at idle, and in memory: ours against Go 0.5.17.

Each round runs every tool in turn (A, B, A, B, ... for ``--repeat`` rounds) on the
same work: ``litestream replicate DB file://DIR`` with the defaults (monitor and sync
interval 1 s), the application being the stdlib ``sqlite3`` module (WAL,
``synchronous=NORMAL``, 100-byte inserts at a fixed rate). Per tool and round:

- ``cpu_per_1000tx@R``: replicator CPU seconds per 1,000 transactions at R tx/s
  (R = 10, 100, 1000; ``--seconds`` each, and at least 400 transactions), from
  /proc, up to the replica holding the last one;
- ``rss_mb@R``: its resident memory at the end of that run;
- ``lag_p50_ms@R``/``lag_p99_ms@R``: commit to replica (see ``replication.py``);
- ``idle_cpu_pct``: CPU (% of one core) of a replicator with one database and no
  writes, over ``--idle`` seconds after ``--settle`` seconds.

``--long S`` adds a run of S seconds at 1000 tx/s that samples RSS every 10 s
(``rss_first_mb``, ``rss_last_mb``, ``rss_max_mb``): memory must stay flat.

Run: ``uv run python bench/cost.py [--repeat 3] [--before PATH] [--long 600]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    Tool,
    add_tool_options,
    chosen_tools,
    cpu_seconds,
    interleave,
    machine,
    memory_mb,
    table,
)
from replication import Session, lags

RATES = (10, 100, 1000)
MIN_TX = 400
"""Each rate runs for at least this many transactions: CPU time comes in 10 ms ticks."""


def rate_run(tool: Tool, rate: int, seconds: float, work: Path) -> dict[str, float]:
    s = Session(list(tool.argv), work, f"r{rate}")
    before = cpu_seconds(s.proc.pid)
    first = len(s.commits)
    n = int(rate * max(seconds, MIN_TX / rate))
    begin = time.monotonic()
    for i in range(n):
        delay = begin + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        s.commit(lambda: s.conn.execute("INSERT INTO t (v) VALUES (randomblob(100))"))
    s.settle()
    cpu = cpu_seconds(s.proc.pid) - before
    rss, _ = memory_mb(s.proc.pid)
    s.close()
    measured = lags(s.commits[first:], list(s.observer.seen.values()))
    q = statistics.quantiles(measured, n=100)
    return {
        f"cpu_per_1000tx@{rate}": cpu / n * 1000,
        f"rss_mb@{rate}": rss,
        f"lag_p50_ms@{rate}": q[49] * 1000,
        f"lag_p99_ms@{rate}": q[98] * 1000,
    }


def idle_run(tool: Tool, settle: float, seconds: float, work: Path) -> dict[str, float]:
    s = Session(list(tool.argv), work, "idle")
    time.sleep(settle)
    before, t0 = cpu_seconds(s.proc.pid), time.monotonic()
    time.sleep(seconds)
    pct = (cpu_seconds(s.proc.pid) - before) / (time.monotonic() - t0) * 100
    s.close()
    return {"idle_cpu_pct": pct}


def long_run(tool: Tool, seconds: float, work: Path) -> dict[str, float]:
    s = Session(list(tool.argv), work, "long")
    samples = []
    begin = time.monotonic()
    i = 0
    next_sample = begin + 10
    while (now := time.monotonic()) - begin < seconds:
        delay = begin + i / 1000 - now
        if delay > 0:
            time.sleep(delay)
        s.conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        i += 1
        if now >= next_sample:
            samples.append(memory_mb(s.proc.pid)[0])
            next_sample += 10
    s.close()
    return {"rss_first_mb": samples[0], "rss_last_mb": samples[-1], "rss_max_mb": max(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each rate run")
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--long", type=float, default=0.0, help="seconds at 1000 tx/s (RSS)")
    add_tool_options(parser)
    args = parser.parse_args()
    contenders = chosen_tools(args)

    def one(tool: Tool, _: int) -> dict[str, float]:
        result: dict[str, float] = {}
        for rate in RATES:
            with tempfile.TemporaryDirectory() as tmp:
                result.update(rate_run(tool, rate, args.seconds, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            result.update(idle_run(tool, args.settle, args.idle, Path(tmp)))
        return result

    results = interleave(args.repeat, contenders, one)
    measures = [f"{m}@{r}" for m in ("cpu_per_1000tx", "rss_mb", "lag_p50_ms", "lag_p99_ms")
                for r in RATES] + ["idle_cpu_pct"]  # fmt: skip
    print(table(results, measures), flush=True)
    if args.long:

        def longer(tool: Tool, _: int) -> dict[str, float]:
            with tempfile.TemporaryDirectory() as tmp:
                return long_run(tool, args.long, Path(tmp))

        print(
            table(interleave(1, contenders, longer), ["rss_first_mb", "rss_last_mb", "rss_max_mb"])
        )
    print(f"Machine at the end: {machine()}")


if __name__ == "__main__":
    main()
