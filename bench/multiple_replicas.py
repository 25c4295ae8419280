"""What more replicas cost: replicate CPU with 1 and 3 replicas of one database.

``litestream replicate`` of one database (a snapshot of ``--mb`` MiB of random rows,
then ``--txns`` transactions of 64 KiB each, 10 ms apart) to file replicas: Go 0.5.17
with its one replica (for reference), ours with one, ours with three. The replicator's
CPU seconds (user + system, from ``wait4``) from start until every replica holds the
last transaction and it exited on SIGTERM; then each replica is restored by name and
compared with the source's rows. ``--repeat`` runs of each, interleaved.

Run: ``uv run python bench/multiple_replicas.py [--mb 64] [--txns 300] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from encryption import GO, OURS, build_database, replicate_cpu, rows_digest


def write_config(path: Path, db: Path, replicas: list[Path]) -> Path:
    lines = ["dbs:", f"  - path: {db}", "    replicas:"]
    for i, replica in enumerate(replicas):
        lines += [f"      - name: r{i}", f"        path: {replica}"]
    if len(replicas) == 1:  # Go's form: it takes neither a list of several nor names
        lines = ["dbs:", f"  - path: {db}", "    replica:", f"      path: {replicas[0]}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def check_restores(tool: Path, config: Path, db: Path, count: int, out: Path) -> None:
    """Every replica restores to the source's rows (by name when there are several)."""
    expected = rows_digest(db)
    for i in range(count):
        for stale in (out, out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
            stale.unlink(missing_ok=True)
        name = ["-replica", f"r{i}"] if count > 1 else []
        proc = subprocess.run(
            [str(tool), "restore", "-config", str(config), *name, "-o", str(out), str(db)],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode or rows_digest(out) != expected:
            raise SystemExit(f"{tool}: replica {i} did not restore the source: {proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--txns", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    cases = [("Go 0.5.17, 1 replica", GO, 1), ("ours, 1 replica", OURS, 1),
             ("ours, 3 replicas", OURS, 3)]  # fmt: skip
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        work = Path(tmp)
        build_database(work / "source.db", args.mb)
        for run in range(args.repeat):
            for name, tool, count in cases:
                case = work / f"{run}-{name.replace(' ', '').replace(',', '-')}"
                case.mkdir()
                db = case / "app.db"
                db.write_bytes((work / "source.db").read_bytes())
                replicas = [case / f"replica{i}" for i in range(count)]
                config = write_config(case / "c.yml", db, replicas)
                cpu[name].append(replicate_cpu(tool, config, db, replicas, args.txns))
                check_restores(tool, config, db, count, case / "out.db")
    print(f"\ndatabase: {args.mb} MiB of random rows, then {args.txns} x 64 KiB transactions")
    print("| replicator | replicate CPU s (median) | min-max s |")
    print("|---|---|---|")
    for name, _, _ in cases:
        times = cpu[name]
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f}-{max(times):.2f} |")
    one, three = (statistics.median(cpu[n]) for n in ("ours, 1 replica", "ours, 3 replicas"))
    go = statistics.median(cpu["Go 0.5.17, 1 replica"])
    print(
        f"\nours 3 replicas vs 1: x{three / one:.2f}; vs Go's 1: x{three / go:.2f}; "
        f"ours 1 vs Go's 1: x{one / go:.2f}"
    )


if __name__ == "__main__":
    main()
