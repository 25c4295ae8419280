"""Reading SQLite's ``-wal`` file directly, trusting only frames that verify.

The WAL is a 32-byte header followed by frames (24-byte header + one page). Every frame
carries the WAL's salts and a running checksum over all frames before it, so a frame is
valid only if its salts match the header and its checksum continues the chain. Like
SQLite's own recovery (and Go's ``wal_reader.go``) we stop at the first invalid frame
and keep only pages of transactions whose commit frame we reached.

The checksum recurrence ``s0 += x0 + s1; s1 += x1 + s0`` over 32-bit word pairs is
sequential, so it runs in a small C kernel (the ``litestream-wal-checksum``
distribution, a few kilobytes), called once per frame header and once per page; the
loop over frames stays here. It was a vectorised numpy formulation once: as fast for
large pages, slower for small ones, and 73 MB of install for one function
(``bench/README.md`` has the measurements).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from litestream_wal_checksum import checksum as _checksum

WAL_HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
MAGIC_LE = 0x377F0682
MAGIC_BE = 0x377F0683
WAL_FORMAT_VERSION = 3007000
_HEADER = struct.Struct(">IIIIIIII")
_FRAME_HEADER = struct.Struct(">IIIIII")
_READ_CHUNK = 8 << 20
"""Most bytes of WAL read per system call: large enough to amortise, small enough for RAM."""
_FIRST_CHUNK = 64 << 10
"""Bytes of the first read of a scan; each further read doubles, up to ``_READ_CHUNK``.
A sync usually finds a few new frames, and the file can be much longer than what is
valid: after a checkpoint restarts the WAL, SQLite overwrites it from the start and
the old generation's frames follow the new ones. One whole-chunk read per sync then
copied megabytes of stale frames for every commit."""


def frame_size(page_size: int) -> int:
    return FRAME_HEADER_SIZE + page_size


def frame_offset(page_size: int, index: int) -> int:
    """File offset of frame ``index`` (0-based)."""
    return WAL_HEADER_SIZE + index * frame_size(page_size)


def wal_size_for_pages(page_size: int, pages: int) -> int:
    """Bytes a WAL of ``pages`` frames occupies (Go's ``calcWALSize``)."""
    return WAL_HEADER_SIZE + frame_size(page_size) * pages


@dataclass(frozen=True, slots=True)
class WALHeader:
    """The WAL's 32-byte header; only a header whose own checksum verifies is returned."""

    big_endian: bool
    page_size: int
    checkpoint_seq: int
    salt1: int
    salt2: int
    checksum: tuple[int, int]

    @property
    def salts(self) -> tuple[int, int]:
        return (self.salt1, self.salt2)

    @classmethod
    def parse(cls, data: bytes) -> WALHeader | None:
        """None for anything SQLite would not accept as a live WAL header."""
        if len(data) < WAL_HEADER_SIZE:
            return None
        magic, version, page_size, seq, salt1, salt2, ck1, ck2 = _HEADER.unpack_from(data)
        if magic not in (MAGIC_LE, MAGIC_BE) or version != WAL_FORMAT_VERSION:
            return None
        if page_size == 1:  # 65536 does not fit SQLite's 16-bit field; WAL stores it whole
            page_size = 65536
        if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            return None
        big_endian = magic == MAGIC_BE
        if _checksum(data[:24], 0, 0, big_endian) != (ck1, ck2):
            return None
        return cls(big_endian, page_size, seq, salt1, salt2, (ck1, ck2))


def read_wal_header(path: str | os.PathLike[str]) -> WALHeader | None:
    """The header of the WAL at ``path``; None if it is missing, short or invalid."""
    try:
        with open(path, "rb") as f:
            return WALHeader.parse(f.read(WAL_HEADER_SIZE))
    except FileNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class FrameHeader:
    pgno: int
    commit: int
    salt1: int
    salt2: int
    checksum: tuple[int, int]

    @classmethod
    def parse(cls, data: bytes) -> FrameHeader:
        pgno, commit, salt1, salt2, ck1, ck2 = _FRAME_HEADER.unpack_from(data)
        return cls(pgno, commit, salt1, salt2, (ck1, ck2))


def read_frame(f: BinaryIO, offset: int, page_size: int) -> tuple[FrameHeader, bytes] | None:
    """The frame at ``offset`` (header, page), or None if the file ends inside it."""
    data = os.pread(f.fileno(), frame_size(page_size), offset)
    if len(data) < frame_size(page_size):
        return None
    return FrameHeader.parse(data), data[FRAME_HEADER_SIZE:]


def read_frame_page(f: BinaryIO, offset: int, page_size: int) -> bytes:
    """The page of the frame at ``offset``; the caller already verified the frame."""
    data = os.pread(f.fileno(), page_size, offset + FRAME_HEADER_SIZE)
    if len(data) != page_size:
        raise OSError(f"WAL frame at offset {offset} ends early")
    return data


@dataclass(slots=True)
class WALScan:
    """Committed frames found from ``start``: what a sync turns into an LTX file."""

    start: int
    end: int
    """Offset just past the last commit frame read (``start`` if none)."""
    checksum: tuple[int, int]
    """Running checksum at ``end``: what the next scan continues from."""
    commit: int = 0
    """Database size in pages at the last commit frame; 0 if no commit was read."""
    pages: dict[int, int] = field(default_factory=dict)
    """Page number -> offset of its newest committed frame in [start, end)."""
    limited: bool = False
    """The scan stopped at ``limit`` bytes: committed frames may follow ``end``."""

    @property
    def size(self) -> int:
        return self.end - self.start


def scan_wal(
    f: BinaryIO,
    header: WALHeader,
    start: int,
    checksum: tuple[int, int],
    *,
    stop: int | None = None,
    limit: int = 0,
) -> WALScan:
    """Verify frames from ``start`` (whose preceding running checksum is ``checksum``).

    Stops at the first frame whose salts or checksum do not continue the chain, at end
    of file, before reading past offset ``stop``, or (``limit`` > 0) at the first commit
    frame ending ``limit`` or more bytes after ``start``: a transaction is never split,
    so one larger than ``limit`` is read whole (Go's ``max-sync-wal-bytes``).
    """
    fs = frame_size(header.page_size)
    big_endian = header.big_endian
    salt1, salt2 = header.salts
    s0, s1 = checksum
    scan = WALScan(start=start, end=start, checksum=checksum)
    pending: dict[int, int] = {}
    offset = start
    chunk = max(1, _FIRST_CHUNK // fs) * fs
    most = max(1, _READ_CHUNK // fs) * fs
    fd = f.fileno()
    while True:
        want = chunk if stop is None else min(chunk, max(0, stop - offset))
        chunk = min(chunk * 2, most)
        data = os.pread(fd, want, offset) if want else b""
        n = len(data) // fs
        if n == 0:
            return scan
        view = memoryview(data)
        for i in range(0, n * fs, fs):
            pgno, commit, fsalt1, fsalt2, ck1, ck2 = _FRAME_HEADER.unpack_from(data, i)
            if fsalt1 != salt1 or fsalt2 != salt2:
                return scan
            # The checksum covers the frame header's first 8 bytes, then the page.
            s0, s1 = _checksum(view[i : i + 8], s0, s1, big_endian)
            s0, s1 = _checksum(view[i + FRAME_HEADER_SIZE : i + fs], s0, s1, big_endian)
            if s0 != ck1 or s1 != ck2:
                return scan
            pending[pgno] = offset
            offset += fs
            if commit:
                scan.pages.update(pending)
                pending.clear()
                scan.commit = commit
                scan.end = offset
                scan.checksum = (s0, s1)
                if limit and offset - start >= limit:
                    scan.limited = True
                    return scan
        if n * fs < len(data) or len(data) < want:
            return scan
