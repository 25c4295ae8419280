"""A large database: first snapshot and restore, time and peak memory, ours against Go.

The database (``--gb`` GiB, default 1; ``--gb 10`` for the 10 GiB row) is generated
fast: rows of ``zeroblob(1 MiB)`` written with no journal, then switched to WAL (the
pages are real, only their content is cheap). Then, interleaved over ``--repeat``
rounds (A, B, A, B...):

- ``snapshot``: ``litestream replicate -once -config`` of a fresh meta directory into an
  empty file replica (for each tool: the first sync reads every page and uploads the
  whole database as one LTX file), wall seconds and the process's peak RSS;
- ``restore``: ``litestream restore -o`` of each tool's replica by the same tool, wall
  seconds and peak RSS, the result compared byte for byte (SHA-256) with the source;
- ``cp`` of the database file for scale, without fsync (as ``cp`` runs) and with one
  (as a restore does: both tools fsync the file before renaming it into place).

Peak RSS and CPU seconds (user + system) come from ``wait4`` (the kernel's ``ru_maxrss``
and ``ru_utime``/``ru_stime`` of that one child).

Run: ``uv run python bench/large_db.py [--gb 1] [--repeat 3] [--work DIR]`` (needs
about 3x the database size free in ``--work``; ``--gb 10``: some 35 GB).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Tool, add_tool_options, chosen_tools, env_for, interleave, machine, table


def build(db: Path, gib: float) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    conn.execute("BEGIN")
    rows = int(gib * 1024)
    for i in range(rows):
        # A little random data per MiB, so pages are not all alike.
        conn.execute("INSERT INTO t (v) VALUES (randomblob(4096) || zeroblob(1044480))")
        if i % 256 == 255:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system, all threads) of one
    command, which must succeed. On a loaded machine the CPU seconds vary far less than
    the wall time: they say what the work costs, the wall what it took."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{argv[0]} {argv[1]} failed: {err[-500:]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--work", default=str(ROOT / "bench"), help="a directory on disk")
    add_tool_options(parser)
    args = parser.parse_args()
    contenders = chosen_tools(args)
    print(f"Database {args.gb:g} GiB", flush=True)
    with tempfile.TemporaryDirectory(dir=args.work, prefix="large-db-") as tmp:
        work = Path(tmp)
        db = work / "big.db"
        started = time.monotonic()
        build(db, args.gb)
        expected = _rows_digest(db)
        print(f"  built {db.stat().st_size / 2**30:.2f} GiB in {time.monotonic() - started:.0f}s")

        def one(tool: Tool, i: int) -> dict[str, float]:
            replica = work / f"replica-{tool.name}"
            meta = work / f"meta-{tool.name}"
            shutil.rmtree(replica, ignore_errors=True)
            shutil.rmtree(meta, ignore_errors=True)
            config = work / f"{tool.name}.yml"
            # Ours: a lease TTL above any snapshot's time. `replicate -once` does not renew
            # its lease while it works, so a snapshot that outlasts 60% of the default
            # TTL (18 s: a 10 GiB database on a loaded machine) is refused at upload.
            lease = "" if tool.is_go else "lease:\n  ttl: 1h\n"
            config.write_text(
                f"{lease}dbs:\n  - path: {db}\n    meta-path: {meta}\n"
                f"    replica:\n      url: file://{replica}\n"
            )
            env = env_for(tool)
            replicate = [*tool.argv, "replicate", "-once", "-config", str(config)]
            snap_s, snap_mb, snap_cpu = timed(replicate, env)
            out = work / "out.db"
            restore = [*tool.argv, "restore", "-o", str(out), f"file://{replica}"]
            rest_s, rest_mb, rest_cpu = timed(restore, env)
            # The tools' own table (_litestream_seq) differs; compare the user's data.
            if _rows_digest(out) != expected:
                raise RuntimeError(f"{tool.name}: restored database differs")
            for suffix in ("", "-wal", "-shm"):  # reading it made its sidecars
                Path(f"{out}{suffix}").unlink(missing_ok=True)
            cp_s = cp_sync_s = 0.0
            if tool.name == "ours":
                cp_s, cp_sync_s = _copy(db, out)
                out.unlink()
            return {"snapshot_s": snap_s, "snapshot_cpu_s": snap_cpu, "snapshot_rss_mb": snap_mb,
                    "restore_s": rest_s, "restore_cpu_s": rest_cpu, "restore_rss_mb": rest_mb,
                    "cp_s": cp_s, "cp_fsync_s": cp_sync_s}  # fmt: skip

        results = interleave(args.repeat, contenders, one)
    measures = ["snapshot_s", "snapshot_cpu_s", "snapshot_rss_mb"]
    print(table(results, [*measures, "restore_s", "restore_cpu_s", "restore_rss_mb"]))
    print()
    for key, what in (("cp_s", "`cp`"), ("cp_fsync_s", "`cp` + fsync")):
        cps = [r[key] for r in results["ours"]]
        print(f"{what}: {min(cps):.2f}-{max(cps):.2f}s; restore / {what} (same round):")
        for name, rounds in results.items():
            ratios = (r["restore_s"] / c for r, c in zip(rounds, cps, strict=True))
            print(f"  {name}: " + ", ".join(f"{x:.1f}" for x in ratios))
    print(f"Machine at the end: {machine()}")


def _copy(src: Path, dst: Path) -> tuple[float, float]:
    """Seconds to copy ``src`` as ``cp`` does (no fsync), and to copy then fsync it: both
    restores fsync their result before renaming it into place, so the second is the
    like-for-like scale; the first is what the issue's target names."""
    t0 = time.monotonic()
    shutil.copyfile(src, dst)
    copied = time.monotonic() - t0
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return copied, time.monotonic() - t0


def _rows_digest(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        for row in conn.execute("SELECT id, CAST(v AS BLOB) FROM t ORDER BY id"):
            h.update(str(row[0]).encode())
            h.update(row[1])
        return h.hexdigest()
    finally:
        conn.close()


if __name__ == "__main__":
    main()
