"""Valid LTX files made to order, for tests of backends and of the engine.

The bytes come from the real codec, so a file made here is one Go Litestream accepts:
a backend under test sees the same headers, sizes and checksums it will see in
production, and a snapshot made from a real database restores with the Go binary.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from litestream_core.ltx import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    Header,
    database_checksum,
    encode_file,
    lock_pgno,
)

DEFAULT_TIMESTAMP_MS = 1_700_000_000_123
"""2023-11-14T22:13:20.123Z: in the past, with milliseconds, so lost precision shows."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Pages = Sequence[tuple[int, bytes]]


def timestamp_to_datetime(timestamp_ms: int) -> datetime:
    """An LTX header timestamp as an aware UTC datetime, exactly (no float rounding)."""
    return _EPOCH + timedelta(milliseconds=timestamp_ms)


def filler_pages(count: int, page_size: int, *, seed: int = 0) -> list[tuple[int, bytes]]:
    """Pages 1..count (the lock page skipped) whose bytes differ per page and per seed."""
    pages: list[tuple[int, bytes]] = []
    pgno = 0
    while len(pages) < count:
        pgno += 1
        if pgno == lock_pgno(page_size):
            continue
        digest = hashlib.sha256(f"{seed}:{pgno}".encode()).digest()
        pages.append((pgno, (digest * (page_size // len(digest) + 1))[:page_size]))
    return pages


def make_ltx_bytes(
    min_txid: int,
    max_txid: int,
    *,
    timestamp_ms: int = DEFAULT_TIMESTAMP_MS,
    page_size: int = 4096,
    pages: int | Pages = 1,
    seed: int = 0,
    no_checksum: bool = False,
) -> bytes:
    """A complete, valid LTX file covering ``min_txid..max_txid``.

    ``pages`` is a count of generated pages or the ``(pgno, bytes)`` pages themselves,
    ascending. A file starting at TXID 1 is a snapshot, so its pages must be the whole
    database; otherwise it is an incremental file whose pre-apply checksum is derived
    from ``seed`` (the generator has no prior database to compute it from).

    ``no_checksum`` sets the header flag Go Litestream 0.5.17 puts on every file it
    writes (no database checksums). Go's restore only accepts such files as the last
    one of a restore, so files meant for the Go binary to restore need it.
    """
    page_list = filler_pages(pages, page_size, seed=seed) if isinstance(pages, int) else pages
    commit = max((pgno for pgno, _ in page_list), default=0)
    post_apply = 0 if no_checksum else database_checksum(page_list)
    pre_apply = 0
    if not (no_checksum or min_txid == 1):
        pre_apply = CHECKSUM_FLAG | (seed * 0x9E3779B97F4A7C15 + min_txid) & (CHECKSUM_FLAG - 1)
    header = Header(
        page_size=page_size,
        commit=commit,
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=timestamp_ms,
        pre_apply_checksum=pre_apply,
        flags=HEADER_FLAG_NO_CHECKSUM if no_checksum else 0,
    )
    return encode_file(header, page_list, post_apply)


def make_ltx_of_size(
    size: int,
    min_txid: int,
    max_txid: int,
    *,
    timestamp_ms: int = DEFAULT_TIMESTAMP_MS,
    seed: int = 0,
) -> bytes:
    """A valid, incremental LTX file of exactly ``size`` bytes, for large-file tests.

    The pages are random, so LZ4 cannot shrink them and the file is as large on the wire
    as it is here; ``seed`` picks the bytes. Two pages are only partly random: how much
    is searched until the encoded file has the asked-for size, so a test can end a file
    one byte past a part or chunk boundary. ``min_txid`` must be above 1 (a snapshot
    would have to hold a real database's pages).
    """
    if min_txid <= 1:
        raise ValueError("make_ltx_of_size makes incremental files: min_txid must be > 1")
    page_size = 4096
    rng = random.Random(seed)

    def encode(pages: Pages) -> bytes:
        return make_ltx_bytes(min_txid, max_txid, timestamp_ms=timestamp_ms, pages=pages, seed=seed)

    overhead = len(encode([]))
    frame = len(encode([(1, rng.randbytes(page_size))])) - overhead
    full = max(0, (size - overhead) // frame - 1)
    pool = [rng.randbytes(page_size) for _ in range(full + 8)]
    tails = rng.randbytes(page_size), rng.randbytes(page_size)

    def with_random(n: int) -> bytes:
        """The file of ``full`` random pages and two holding ``n`` random bytes between them."""
        a, b = min(n, page_size), max(0, n - page_size)
        last = [tails[0][:a] + bytes(page_size - a), tails[1][:b] + bytes(page_size - b)]
        pages = [(pgno, pool[pgno - 1]) for pgno in range(1, full + 1)]
        return encode([*pages, (full + 1, last[0]), (full + 2, last[1])])

    for _ in range(8):
        # Page index entries grow with their offsets, so correct the page count first.
        smallest, largest = len(with_random(0)), len(with_random(2 * page_size))
        if size < smallest:
            full -= -(-(smallest - size) // frame)
        elif size > largest:
            full += -(-(size - largest) // frame)
        if full < 0 or full + 3 >= min(len(pool), lock_pgno(page_size)):
            break
        if not smallest <= size <= largest:
            continue
        lo, hi = 0, 2 * page_size  # the size grows with the random share: bisect it
        while lo < hi:
            mid = (lo + hi) // 2
            if len(with_random(mid)) < size:
                lo = mid + 1
            else:
                hi = mid
        data = with_random(lo)
        if len(data) == size:
            return data
        tails = rng.randbytes(page_size), rng.randbytes(page_size)
    raise ValueError(f"make_ltx_of_size could not hit exactly {size} bytes")


def database_pages(path: str | Path) -> tuple[int, list[tuple[int, bytes]]]:
    """The page size and pages of a SQLite database file (checkpointed, not in use).

    With :func:`make_ltx_bytes` this gives a real snapshot, for restore tests.
    """
    data = Path(path).read_bytes()
    raw = int.from_bytes(data[16:18], "big")
    page_size = 65536 if raw == 1 else raw
    lock = lock_pgno(page_size)
    pages = [
        (offset // page_size + 1, data[offset : offset + page_size])
        for offset in range(0, len(data), page_size)
        if offset // page_size + 1 != lock
    ]
    return page_size, pages
