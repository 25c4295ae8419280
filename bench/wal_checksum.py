"""WAL verification throughput: what a sync pays to trust new frames.

    uv run python bench/wal_checksum.py [--mb 64] [--page-size 4096] [--repeat 5]

Builds a real SQLite WAL of about ``--mb`` MB (autocheckpoint off, one transaction per
~100 pages, rows half random, half repetitive), then times ``scan_wal`` over all of it
from the header: salts, the running checksum of every frame, commit bookkeeping, as a
sync does it. The file is read once first so the page cache holds it; the rate is MB/s
of WAL bytes, best and median of ``--repeat`` runs. Go verifies the same checksum
inside ``litestream replicate`` but exposes no way to time it alone, so this bench has
no Go column; the end-to-end replication benches compare the tools.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from litestream_core.engine.wal import read_wal_header, scan_wal


def make_wal(db: Path, megabytes: int, page_size: int) -> Path:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    wal = Path(f"{db}-wal")
    while wal.stat().st_size < megabytes << 20:
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO t (body) VALUES (?)",
            (
                (os.urandom(page_size // 4) + b"status=active;" * (page_size // 28),)
                for _ in range(100)
            ),
        )
        con.execute("COMMIT")
    # Keep the connection open until the copy: closing the last one checkpoints the WAL.
    copy = db.with_name("copy-wal")
    copy.write_bytes(wal.read_bytes())
    con.close()
    return copy


def scan_once(wal: Path) -> tuple[float, int]:
    header = read_wal_header(wal)
    assert header is not None
    with wal.open("rb") as f:
        start = time.perf_counter()
        scan = scan_wal(f, header, 32, header.checksum)
        elapsed = time.perf_counter() - start
    return elapsed, scan.end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--page-size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wal = make_wal(Path(tmp) / "app.db", args.mb, args.page_size)
        size = wal.stat().st_size
        wal.read_bytes()  # into the page cache
        times = []
        for _ in range(args.repeat):
            elapsed, end = scan_once(wal)
            assert end == size, f"scan stopped at {end} of {size}: the WAL did not verify"
            times.append(elapsed)
    mb = size / 1e6
    print(
        f"WAL {mb:.1f} MB, page size {args.page_size}: scan_wal "
        f"best {mb / min(times):.0f} MB/s, median {mb / statistics.median(times):.0f} MB/s "
        f"({args.repeat} runs)"
    )


if __name__ == "__main__":
    main()
