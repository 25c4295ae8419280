"""Turning the database at the synced position into LTX pages.

A page of the database at a WAL position is its newest committed frame in the current
WAL generation up to that position, or else the database file. That holds while our
read transaction is open: checkpointers only copy frames we have already seen into
the file (so those pages come from the WAL, never the file), and nobody can restart
the WAL. Reads past the end of the database file yield zeros, as SQLite's own do.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, BinaryIO

from litestream_core.engine.wal import read_frame_page
from litestream_core.ltx import CHECKSUM_FLAG, Encoder, Header, Trailer, lock_pgno, page_checksum

if TYPE_CHECKING:
    from litestream_core.compression import Compressor


class PageSums:
    """Checksum of every page at the synced position, so the database checksum follows
    each L0 file without re-reading the database: a changed page swaps its old
    checksum for its new one in the XOR. Also what tells which pages changed when the
    WAL that would have said so was checkpointed and restarted behind our back
    (``write_changed_pages``). Eight bytes a page (2 MiB per GiB of 4 KiB pages); 0
    means unknown (the lock page, or a page never seen)."""

    def __init__(self) -> None:
        self._sums = array("Q", [0])
        self._acc = 0

    def set(self, pgno: int, data: bytes) -> bool:
        """Record the page's checksum; True unless it is known and equal to before."""
        if pgno >= len(self._sums):
            self._sums.frombytes(bytes(8 * (pgno + 1 - len(self._sums))))
        new = page_checksum(pgno, data) & ~CHECKSUM_FLAG
        old = self._sums[pgno]
        self._acc ^= old ^ new
        self._sums[pgno] = new
        return old == 0 or old != new

    def copy(self) -> PageSums:
        other = PageSums()
        other._sums = array("Q", self._sums)
        other._acc = self._acc
        return other

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


def write_changed_pages(
    out: BinaryIO,
    header: Header,
    frames: Mapping[int, int],
    reader: PageReader,
    sums: PageSums,
    codec: Compressor | None = None,
) -> tuple[Trailer, int]:
    """An incremental file of the pages of the database at ``header.commit`` whose
    checksum differs from ``sums`` (the replicated state, updated here to the new
    one); returns the trailer and how many pages it holds.

    Applied to the replicated state, the file gives every page of the new state: a
    page is left out only when its CRC-64 equals the one recorded for that page
    number, and pages past the new size are dropped by ``commit``. Every page is read
    once, as a snapshot would, but only the changed ones are written and uploaded.
    An unchanged database still gets page 1, so the file is never empty.
    """
    enc = Encoder(out, header, codec)
    written = 0
    first: bytes | None = None
    for pgno in snapshot_pages(header.commit, reader.page_size):
        data = reader.read(pgno, frames.get(pgno))
        if sums.set(pgno, data):
            enc.write_page(pgno, data)
            written += 1
        elif pgno == 1:
            first = data
    if not written and first is not None:
        enc.write_page(1, first)
        written = 1
    sums.truncate(header.commit)
    return enc.finish(0 if header.no_checksum else sums.value), written
