"""The application comes first: its commit rate alone, under our replicator, under Go's.

Two applications, each run for ``--seconds`` with no replicator, with ours and with
Go 0.5.17 (defaults, file replica), interleaved over ``--repeat`` rounds:

- ``commits_per_s``: 100-byte inserts as fast as the stdlib ``sqlite3`` module commits
  them (WAL, ``synchronous=NORMAL``, busy timeout 5 s);
- ``checkpointing_commits``: the same, with ``PRAGMA wal_checkpoint(TRUNCATE)`` after
  every third commit (an application that checkpoints by itself), counted over the
  run. A replicator that holds a read transaction makes each TRUNCATE wait for it.

``ours-acp`` is ours with ``allow-app-checkpoints: true`` (beyond Go, off by default:
no read transaction between syncs, and after the application's checkpoint only the
changed pages are copied); ``--no-acp`` leaves it out.

The replicator is started and given a second before the application starts; the
database is new for each run. Ratios in the table are against Go's run; the
``alone`` rows give the unreplicated rates of the same rounds.

Run: ``uv run python bench/app_throughput.py [--repeat 3] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Tool, add_tool_options, chosen_tools, env_for, interleave, machine, table
from replication import stop


def app(db: Path, seconds: float, checkpoint_every: int) -> int:
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
    commits = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        commits += 1
        if checkpoint_every and commits % checkpoint_every == 0:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    conn.close()
    return commits


ACP = "ours-acp"


def run_with(tool: Tool | None, seconds: float, checkpoint_every: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "app.db"
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
        conn.close()
        proc = None
        if tool is not None:
            target = [str(db), f"file://{tmp}/replica"]
            if tool.name == ACP:
                config = Path(tmp) / "litestream.yml"
                config.write_text(
                    f"dbs:\n  - path: {db}\n    allow-app-checkpoints: true\n"
                    f"    replica:\n      url: file://{tmp}/replica\n"
                )
                target = ["-config", str(config)]
            proc = subprocess.Popen(
                [*tool.argv, "replicate", *target],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env_for(tool),
            )
            time.sleep(1.5)
        try:
            return app(db, seconds, checkpoint_every)
        finally:
            if proc is not None:
                stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-acp", action="store_true", help="leave out ours-acp")
    add_tool_options(parser)
    args = parser.parse_args()
    contenders = chosen_tools(args)
    ours = next((t for t in contenders if t.name == "ours"), None)
    if ours is not None and not args.no_acp:
        contenders.insert(1, Tool(ACP, ours.argv))
    contenders.append(Tool("alone", ()))

    def one(tool: Tool, _: int) -> dict[str, float]:
        replicator = None if tool.name == "alone" else tool
        plain = run_with(replicator, args.seconds, 0)
        ckpt = run_with(replicator, args.seconds, 3)
        return {"commits_per_s": plain / args.seconds, "checkpointing_commits": float(ckpt)}

    results = interleave(args.repeat, contenders, one)
    print(table(results, ["commits_per_s", "checkpointing_commits"]))
    print(f"Machine at the end: {machine()}")


if __name__ == "__main__":
    main()
