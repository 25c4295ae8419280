"""What ``restore -integrity-check quick`` and ``full`` cost next to the restore itself.

Builds a SQLite database of about ``--mib`` MiB (a table of text rows with an index, so
both checks have b-trees to walk), replicates it once with our ``replicate -once`` to a
file replica, then restores it with ``litestream restore`` and each
``-integrity-check`` mode, and with the Go binary for scale. The cost of a check is the
difference of medians against ``-integrity-check none``. The result decides the default
(``quick`` if it costs under a tenth of the restore).

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
        cells: dict[str, list[float]] = {}
        for i in range(args.repeat):
            for name, cmd in (
                ("ours, none", [str(OURS), "restore", "-integrity-check", "none"]),
                ("ours, quick", [str(OURS), "restore", "-integrity-check", "quick"]),
                ("ours, full", [str(OURS), "restore", "-integrity-check", "full"]),
                ("Go 0.5.17, none", [str(GO), "restore"]),
            ):
                out = work / f"out-{i}.db"
                cells.setdefault(name, []).append(timed(*cmd, "-o", str(out), url))
                out.unlink()
        print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
        print("| restore | median s | min-max s |")
        print("|---|---|---|")
        for name, runs in cells.items():
            print(f"| {name} | {statistics.median(runs):.2f} | {min(runs):.2f}-{max(runs):.2f} |")
        base = statistics.median(cells["ours, none"])
        for mode in ("quick", "full"):
            cost = statistics.median(cells[f"ours, {mode}"]) - base
            print(
                f"{mode}: +{cost:.2f} s, {cost / base:.1%} of the restore (difference of medians)"
            )
        # The difference of two noisy medians can mislead on a shared machine: time the
        # check itself too, on a restored copy, as restore runs it (read-only, immutable).
        out = work / "checked.db"
        subprocess.run([str(OURS), "restore", "-o", str(out), url], check=True, capture_output=True)
        for pragma in ("quick_check", "integrity_check"):
            runs = [_time_pragma(out, pragma) for _ in range(args.repeat)]
            med = statistics.median(runs)
            print(
                f"PRAGMA {pragma} alone: median {med:.2f} s ({min(runs):.2f}-{max(runs):.2f}), "
                f"{med / base:.1%} of the restore"
            )


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
