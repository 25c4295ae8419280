"""LTX codec throughput against a plain page copy.

    uv run python bench/ltx_codec.py [--mb 64] [--page-size 4096] [--repeat 3]

Builds a SQLite database of about ``--mb`` MB (rows half random, half repetitive, like
typical application data), then times, per page, reading the database and writing
(a) the raw page to another file, (b) an LTX snapshot through Encoder, and (c) the
pages decoded back from that snapshot through Decoder. Rates are MB/s of page data;
the best of ``--repeat`` runs is reported.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from litestream_core.ltx import (
    HEADER_FLAG_NO_CHECKSUM,
    Decoder,
    Encoder,
    Header,
    checksum_database_file,
)


def make_db(path: Path, megabytes: int, page_size: int) -> None:
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, body BLOB)")
    rows = megabytes * 1024 * 1024 // 600
    con.executemany(
        "INSERT INTO t (name, body) VALUES (?, ?)",
        (
            (f"user-{i:08d}@example.com", os.urandom(256) + b"status=active;" * 20)
            for i in range(rows)
        ),
    )
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def plain_copy(db: Path, out: Path, page_size: int) -> None:
    with db.open("rb") as src, out.open("wb") as dst:
        while page := src.read(page_size):
            dst.write(page)


def encode(db: Path, out: Path, page_size: int) -> None:
    commit = db.stat().st_size // page_size
    header = Header(
        page_size=page_size, commit=commit, min_txid=1, max_txid=1, flags=HEADER_FLAG_NO_CHECKSUM
    )
    with db.open("rb") as src, out.open("wb") as dst:
        enc = Encoder(dst, header)
        for pgno in range(1, commit + 1):
            enc.write_page(pgno, src.read(page_size))
        enc.finish(0)


def decode(ltx: Path, out: Path) -> None:
    with ltx.open("rb") as src, out.open("wb") as dst:
        for _, page in Decoder(src).pages():
            dst.write(page)


def checksum_file(db: Path, page_size: int) -> int:
    with db.open("rb") as src:
        return checksum_database_file(src, page_size)


def best_rate(fn: Callable[[], object], nbytes: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return nbytes / min(times) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--page-size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, ltx, out = Path(tmp, "bench.db"), Path(tmp, "bench.ltx"), Path(tmp, "out")
        make_db(db, args.mb, args.page_size)
        size = db.stat().st_size
        encode(db, ltx, args.page_size)
        print(f"database: {size / 1e6:.1f} MB, {size // args.page_size} pages of {args.page_size}")
        print(f"LTX file: {ltx.stat().st_size / 1e6:.1f} MB")
        rows = [
            ("plain page copy", lambda: plain_copy(db, out, args.page_size)),
            ("LTX encode", lambda: encode(db, ltx, args.page_size)),
            ("LTX decode+verify", lambda: decode(ltx, out)),
            ("database checksum", lambda: checksum_file(db, args.page_size)),
        ]
        for name, fn in rows:
            print(f"{name:<20} {best_rate(fn, size, args.repeat):8.0f} MB/s")


if __name__ == "__main__":
    main()
