"""Restore time from 10,000 L0 files versus the same replica after compaction, ours and Go's.

Builds a file replica of a real SQLite database (a snapshot at TXID 1) followed by
10,000 small transactions of 1-3 changed pages each, encoded with our codec as Go 0.5
writes them (no database checksums). A copy of it is then compacted the way the
default schedule would leave it (L1 every 100 transactions, L2 every 1,000, L3 over
everything, one L9 snapshot half-way, L0 pruned behind L1), and both replicas are
restored to the newest state with ``litestream restore -o`` of both tools. Every
result is compared with the expected bytes.

Run: ``uv run python bench/restore_compacted.py [--files 10000] [--pages 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from litestream_file.client import FileReplicaClient

from litestream_core.engine.compaction import Compactor
from litestream_core.engine.levels import CompactionSettings
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Header, encode_file

ROOT = Path(__file__).resolve().parent.parent
GO = Path(os.environ.get("LITESTREAM_GO_BIN", ROOT / ".peer" / "bin" / "litestream"))
OURS = ROOT / ".venv" / "bin" / "litestream"
PAGE = 4096
T0_MS = 1_750_000_000_000


def make_database(path: Path, pages: int) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size={PAGE}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    rng = random.Random(1)
    while path.stat().st_size < pages * PAGE:
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(rng.randbytes(900),)] * 200)
        conn.commit()
    conn.close()
    return path.read_bytes()


def write_l0(replica: Path, base: bytes, count: int) -> bytes:
    """TXID 1 = the database; TXIDs 2..count: 1-3 pages changed each. Returns the final db."""
    level0 = replica / "ltx" / "0"
    level0.mkdir(parents=True)
    npages = len(base) // PAGE
    db = bytearray(base)
    rng = random.Random(2)
    for txid in range(1, count + 1):
        if txid == 1:
            changed = list(range(1, npages + 1))
        else:
            changed = sorted(rng.sample(range(2, npages + 1), rng.randint(1, 3)))
            for pgno in changed:  # page 1 (the header) stays valid
                db[(pgno - 1) * PAGE : pgno * PAGE] = rng.randbytes(PAGE // 4) * 4
        header = Header(
            page_size=PAGE, commit=npages, min_txid=txid, max_txid=txid,
            timestamp=T0_MS + txid * 100, flags=HEADER_FLAG_NO_CHECKSUM,
        )  # fmt: skip
        pages = [(p, bytes(db[(p - 1) * PAGE : p * PAGE])) for p in changed]
        path = level0 / f"{txid:016x}-{txid:016x}.ltx"
        path.write_bytes(encode_file(header, pages, 0))
        os.utime(path, ns=(header.timestamp * 1_000_000, header.timestamp * 1_000_000))
    return bytes(db)


async def compact_like_the_schedule(replica: Path, count: int) -> dict[int, int]:
    client = FileReplicaClient(replica)
    await client.init()
    settings = CompactionSettings(level_intervals=(30.0, 300.0, 3600.0), l0_retention=1)
    comp = Compactor(client, settings)
    src = FileReplicaClient(replica)
    await src.init()
    all_l0 = [f async for f in src.ltx_files(0)]
    # Replay the schedule: hide L0 files not yet "written", compact as the levels fire.
    hidden = replica / "hidden"
    hidden.mkdir()
    for info in all_l0:
        os.rename(client.file_path(0, info.min_txid, info.max_txid), hidden / info.name)
    for info in all_l0:
        os.rename(hidden / info.name, client.file_path(0, info.min_txid, info.max_txid))
        t = info.max_txid
        if t % 100 == 0 or t == count:
            await comp.compact(1)
        if t % 1000 == 0 or t == count:
            await comp.compact(2)
        if t == count // 2:
            await comp.snapshot()
    await comp.compact(3)
    await comp.enforce_l0_retention()
    counts = {lvl: len([f async for f in client.ltx_files(lvl)]) for lvl in (0, 1, 2, 3, 9)}
    await client.close()
    await src.close()
    hidden.rmdir()
    return counts


def timed_restore(tool: Path, replica: Path, out: Path, expected: bytes) -> float:
    out.unlink(missing_ok=True)
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    started = time.perf_counter()
    subprocess.run(
        [str(tool), "restore", "-o", str(out), f"file://{replica}"],
        check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if out.read_bytes() != expected:
        sys.exit(f"{tool} restored different bytes from {replica}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-compaction-") as tmp:
        work = Path(tmp)
        base = make_database(work / "source.db", args.pages)
        started = time.perf_counter()
        expected = write_l0(work / "l0", base, args.files)
        gen = time.perf_counter() - started
        shutil.copytree(work / "l0", work / "compacted")
        started = time.perf_counter()
        counts = asyncio.run(compact_like_the_schedule(work / "compacted", args.files))
        comp = time.perf_counter() - started
        print(f"generated {args.files} L0 files in {gen:.1f}s; compacted in {comp:.1f}s")
        print(f"after compaction, files per level: {counts}")
        rows = []
        for name, replica in (("10,000 L0 files", work / "l0"), ("compacted", work / "compacted")):
            for tool_name, tool in (("ours", OURS), ("Go 0.5.17", GO)):
                times = [
                    timed_restore(tool, replica, work / "out.db", expected)
                    for _ in range(args.repeat)
                ]
                rows.append((name, tool_name, statistics.median(times), min(times), max(times)))
        print(f"\nmachine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
        print(
            f"database: {len(base) // PAGE} pages of {PAGE} bytes; restores per cell: {args.repeat}"
        )
        print("| replica | tool | median s | min s | max s |")
        print("|---|---|---|---|---|")
        for name, tool_name, med, lo, hi in rows:
            print(f"| {name} | {tool_name} | {med:.2f} | {lo:.2f} | {hi:.2f} |")


if __name__ == "__main__":
    main()
