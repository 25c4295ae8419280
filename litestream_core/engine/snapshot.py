"""Turning the database at the synced position into LTX pages.

A page of the database at a WAL position is its newest committed frame in the current
WAL generation up to that position, or else the database file. That holds while our
read transaction is open: checkpointers only copy frames we have already seen into
the file (so those pages come from the WAL, never the file), and nobody can restart
the WAL. Reads past the end of the database file yield zeros, as SQLite's own do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, BinaryIO

from litestream_core.engine.wal import read_frame_page
from litestream_core.ltx import CHECKSUM_FLAG, Encoder, Header, Trailer, lock_pgno, page_checksum

if TYPE_CHECKING:
    from litestream_core.compression import Compressor


class PageSums:
    """Checksum of every page at the synced position, so the database checksum follows
    each L0 file without re-reading the database: a changed page swaps its old
    checksum for its new one in the XOR."""

    def __init__(self) -> None:
        self._sums: list[int] = [0]
        self._acc = 0

    def set(self, pgno: int, data: bytes) -> None:
        if pgno >= len(self._sums):
            self._sums.extend([0] * (pgno + 1 - len(self._sums)))
        new = page_checksum(pgno, data) & ~CHECKSUM_FLAG
        self._acc ^= self._sums[pgno] ^ new
        self._sums[pgno] = new

    def truncate(self, commit: int) -> None:
        """Forget pages past the database's new size."""
        for old in self._sums[commit + 1 :]:
            self._acc ^= old
        del self._sums[commit + 1 :]

    @property
    def value(self) -> int:
        return CHECKSUM_FLAG | self._acc


class PageReader:
    """Reads a page from a WAL frame (by offset) or from the database file."""

    def __init__(self, db_file: BinaryIO, wal_file: BinaryIO, page_size: int) -> None:
        self._db = db_file.fileno()
        self._wal = wal_file
        self.page_size = page_size

    def read(self, pgno: int, frame_offset: int | None) -> bytes:
        if frame_offset is not None:
            return read_frame_page(self._wal, frame_offset, self.page_size)
        data = os.pread(self._db, self.page_size, (pgno - 1) * self.page_size)
        if len(data) < self.page_size:
            data += bytes(self.page_size - len(data))
        return data


def snapshot_pages(commit: int, page_size: int) -> Iterable[int]:
    """Every page of a database of ``commit`` pages, minus the lock page."""
    lock = lock_pgno(page_size)
    return (p for p in range(1, commit + 1) if p != lock)


def write_pages(
    out: BinaryIO,
    header: Header,
    pgnos: Iterable[int],
    frames: Mapping[int, int],
    reader: PageReader,
    sums: PageSums | None,
    post_apply: int | None = None,
    codec: Compressor | None = None,
) -> Trailer:
    """Encode ``pgnos`` (ascending), each from its frame in ``frames`` or the db file.

    With ``sums`` the page checksums are updated as pages go by and the trailer gets
    the resulting database checksum; without, ``post_apply`` (or 0) is used.
    """
    enc = Encoder(out, header, codec)
    for pgno in pgnos:
        data = reader.read(pgno, frames.get(pgno))
        enc.write_page(pgno, data)
        if sums is not None:
            sums.set(pgno, data)
    if sums is not None:
        sums.truncate(header.commit)
        post_apply = sums.value
    return enc.finish(0 if header.no_checksum else (post_apply or 0))
