"""Valid LTX files made to order, for tests of backends and of the engine.

The bytes come from the real codec, so a file made here is one Go Litestream accepts:
a backend under test sees the same headers, sizes and checksums it will see in
production, and a snapshot made from a real database restores with the Go binary.
"""

from __future__ import annotations

import hashlib
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
