"""What ``restore -integrity-check quick`` and ``full`` cost next to the restore itself.

Builds a SQLite database of about ``--mib`` MiB (a table of text rows with an index, so
both checks have b-trees to walk), replicates it once with our ``replicate -once`` to a
file replica, then, ``--repeat`` times, restores it with ``litestream restore
-integrity-check none`` and times ``PRAGMA quick_check`` and ``integrity_check`` on the
result exactly as restore runs them, and restores with the Go binary for scale. The
ratio of check to restore decides the default (``quick`` if it costs under a tenth of
the restore).

Run: ``uv run python bench/integrity_check.py [--mib 1024] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GO = Path(os.environ.get("LITESTREAM_GO_BIN", ROOT / ".peer" / "bin" / "litestream"))
OURS = ROOT / ".venv" / "bin" / "litestream"


def make_database(path: Path, mib: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, v BLOB)")
    conn.execute("CREATE INDEX t_k ON t (k)")
    rng = random.Random(1)
    target = mib << 20
    while path.stat().st_size + _size(path, "-wal") < target:
        rows = [(rng.randbytes(12).hex(), rng.randbytes(600)) for _ in range(5000)]
        conn.executemany("INSERT INTO t (k, v) VALUES (?, ?)", rows)
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _size(path: Path, suffix: str) -> int:
    try:
        return os.stat(f"{path}{suffix}").st_size
    except FileNotFoundError:
        return 0


def timed(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        work = Path(tmp)
        db, replica = work / "src.db", work / "replica"
        t = time.perf_counter()
        make_database(db, args.mib)
        print(f"database: {db.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.0f} s")
        subprocess.run(
            [str(OURS), "replicate", "-once", str(db), f"file://{replica}"],
            check=True, capture_output=True,
        )  # fmt: skip
        url = f"file://{replica}"
        # Each round restores with our tool (no check), then times SQLite's checks on
        # that very output, as restore runs them (just written, so in the page cache).
        # Ratios are taken per round: on a shared machine the load drifts, and a ratio
        # of two timings taken seconds apart drifts far less than either timing.
        rows: list[tuple[float, float, float, float]] = []
        for i in range(args.repeat):
            out = work / f"out-{i}.db"
            restore_s = timed(str(OURS), "restore", "-integrity-check", "none", "-o", str(out), url)
            quick_s = _time_pragma(out, "quick_check")
            full_s = _time_pragma(out, "integrity_check")
            out.unlink()
            go_s = timed(str(GO), "restore", "-o", str(out), url)
            out.unlink()
            rows.append((restore_s, quick_s, full_s, go_s))
            print(
                f"round {i + 1}: restore {restore_s:.2f} s, quick_check {quick_s:.2f} s, "
                f"integrity_check {full_s:.2f} s, Go restore {go_s:.2f} s",
                flush=True,
            )
        print(
            f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
            f"load average {os.getloadavg()[0]:.1f} at the end"
        )
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        quick = statistics.median(q / r for r, q, _, _ in rows)
        full = statistics.median(f / r for r, _, f, _ in rows)
        print("| measure | median s |")
        print("|---|---|")
        for name, value in zip(("restore, ours (no check)", "PRAGMA quick_check",
                                "PRAGMA integrity_check", "restore, Go 0.5.17"), med,
                               strict=True):  # fmt: skip
            print(f"| {name} | {value:.2f} |")
        print(f"quick_check / restore: median {quick:.1%}; integrity_check / restore: {full:.1%}")


def _time_pragma(path: Path, pragma: str) -> float:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    started = time.perf_counter()
    rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    elapsed = time.perf_counter() - started
    conn.close()
    assert rows == [("ok",)], rows
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
