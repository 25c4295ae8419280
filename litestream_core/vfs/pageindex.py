"""Finding a page's frame in a remote LTX file without reading the file.

Each LTX file ends with a page index (varints: page number, frame offset, frame size),
so one or two range reads of a file's ends tell where every page sits. A snapshot of a
1 GiB database has a 2.4 MB index of 262,144 entries; decoding all of it in Python
takes about a second, so large indexes are searched in place instead: a binary search
over byte positions that re-synchronises on entry boundaries. Frames are written back
to back, so at the right alignment each entry's offset plus size is the next entry's
offset, which tells the right alignment from the two wrong ones.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import NamedTuple

from litestream_core.client import LTXFileInfo, ReplicaClient
from litestream_core.engine.continuity import required_pages
from litestream_core.errors import LTXFormatError
from litestream_core.ltx import HEADER_SIZE, TRAILER_SIZE, Header, lock_pgno
from litestream_core.ltx.index import scan_index

WHOLE_FILE = 64 << 10
"""Files up to this size are read whole: one request gives header, index and pages."""
TAIL_GUESS = 256 << 10
"""Bytes read from a large file's end at first; most indexes fit."""
SMALL_AREA = 4096
"""Index areas up to this size are decoded whole (about 450 entries)."""
_SIZE_FIELD = struct.Struct(">Q")
_TAIL = TRAILER_SIZE + _SIZE_FIELD.size


class Frame(NamedTuple):
    pgno: int
    offset: int
    size: int


class PageIndex:
    """Page number -> frame of one LTX file; decoded whole when small, else searched."""

    def __init__(self, area: bytes) -> None:
        if not area or area[-1] != 0:
            raise LTXFormatError("LTX page index is not terminated")
        self._area = area
        self._end = len(area) - 1  # the terminator's position
        self._frames: list[Frame] | None = None
        self._slot: dict[int, int] = {}
        if len(area) <= SMALL_AREA:
            entries, _ = scan_index(area)
            self._frames = [Frame(p, e.offset, e.size) for p, e in entries.items()]
            self._slot = {f.pgno: i for i, f in enumerate(self._frames)}

    def get(self, pgno: int) -> Frame | None:
        run = self.run(pgno, 1)
        return run[0] if run else None

    def run(self, pgno: int, count: int) -> list[Frame]:
        """The frame of ``pgno`` and up to ``count - 1`` frames after it, in file order
        (frames are back to back, so one range read fetches them all); empty when the
        file does not hold ``pgno``."""
        if self._frames is not None:
            i = self._slot.get(pgno)
            return [] if i is None else self._frames[i : i + count]
        pos = self._find(pgno)
        if pos is None:
            return []
        out: list[Frame] = []
        while pos < self._end and len(out) < count:
            frame, pos = self._entry(pos)
            out.append(frame)
        return out

    def holds(self, first: int, last: int, page_size: int) -> bool:
        """Whether the file has every page from ``first`` to ``last`` (one search, then
        a walk over those entries: pages ascend in a file, the lock page is never in one)."""
        need = required_pages(first, last, page_size)
        if need == 0:
            return True
        if first == lock_pgno(page_size):
            first += 1
        frames = self.run(first, need)
        return len(frames) == need and frames[-1].pgno <= last

    def _find(self, pgno: int) -> int | None:
        """Where the entry of ``pgno`` starts, by binary search over byte positions."""
        lo, hi = 0, self._end  # lo is always an entry start; the entry is in [lo, hi)
        while hi - lo > 64:
            mid = (lo + hi) // 2
            pos, found = self._entry_near(mid)
            if pos >= hi:
                hi = mid
            elif found == pgno:
                return pos
            elif found < pgno:
                lo = self._entry(pos)[1]
            else:
                hi = mid
        pos = lo
        while pos < self._end:
            frame, after = self._entry(pos)
            if frame.pgno >= pgno:
                return pos if frame.pgno == pgno else None
            pos = after
        return None

    def _entry(self, pos: int) -> tuple[Frame, int]:
        area = self._area
        try:
            pgno, pos = _uvarint(area, pos)
            offset, pos = _uvarint(area, pos)
            size, pos = _uvarint(area, pos)
        except IndexError:
            raise LTXFormatError("LTX page index truncated") from None
        return Frame(pgno, offset, size), pos

    def _entry_near(self, pos: int) -> tuple[int, int]:
        """The start and page number of the first entry at or after ``pos``.

        From a varint boundary the next seven varints cover two whole entries at each
        of the three possible alignments; the right one chains offset + size. Near the
        end, the count of varints left gives the alignment.
        """
        area, end = self._area, self._end
        while pos < end and area[pos - 1] & 0x80:
            pos += 1
        starts: list[int] = []
        values: list[int] = []
        try:
            while len(values) < 7 and pos < end:
                starts.append(pos)
                value, pos = _uvarint(area, pos)
                values.append(value)
        except IndexError:
            raise LTXFormatError("LTX page index truncated") from None
        if len(values) < 7:  # up to the end: whole entries remain, so count from there
            k = len(values) % 3
            return (starts[k], values[k]) if k < len(values) else (end, 0)
        for k in range(3):
            if values[k + 3] > values[k] and values[k + 4] == values[k + 1] + values[k + 2]:
                return starts[k], values[k]
        raise LTXFormatError("LTX page index entries are not back-to-back frames")


def _uvarint(area: bytes, pos: int) -> tuple[int, int]:
    """One varint (Go's encoding): value and the position after it."""
    byte = area[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = area[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise LTXFormatError("bad varint in LTX page index: overflows 64 bits")


@dataclass
class ReadStats:
    """Range reads made and bytes they returned (what a query cost in storage I/O)."""

    requests: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.requests += 1
        self.bytes += size


@dataclass
class FileMeta:
    """What the VFS knows of one LTX file: header, index, and the bytes if small."""

    info: LTXFileInfo
    header: Header
    index: PageIndex
    data: bytes | None = None


async def fetch_meta(
    client: ReplicaClient, info: LTXFileInfo, stats: ReadStats | None = None
) -> FileMeta:
    """Header and page index of ``info`` by range reads (the whole file when small)."""
    if info.size < HEADER_SIZE + _TAIL:
        raise LTXFormatError(f"LTX file {info.name} (level {info.level}) is too small")
    if info.size <= WHOLE_FILE:
        data = await read_range(client, info, 0, info.size, stats)
        header = _header(data[:HEADER_SIZE], info)
        return FileMeta(info, header, _index_from_tail(data, info), data)
    guess = min(info.size - HEADER_SIZE, TAIL_GUESS + _TAIL)
    head, tail = await asyncio.gather(
        read_range(client, info, 0, HEADER_SIZE, stats),
        read_range(client, info, info.size - guess, guess, stats),
    )
    area_size = _SIZE_FIELD.unpack_from(tail, len(tail) - _TAIL)[0]
    if area_size + _TAIL > len(tail):
        more = area_size + _TAIL - len(tail)
        start = info.size - guess - more
        if start < HEADER_SIZE:
            raise LTXFormatError(f"LTX file {info.name}: page index size {area_size} too large")
        tail = await read_range(client, info, start, more, stats) + tail
    return FileMeta(info, _header(head, info), _index_from_tail(tail, info))


async def read_range(
    client: ReplicaClient, info: LTXFileInfo, offset: int, size: int, stats: ReadStats | None
) -> bytes:
    """Exactly ``size`` bytes at ``offset`` of ``info``, or an error saying it is short."""
    stream = await client.open_ltx_file(
        info.level, info.min_txid, info.max_txid, offset=offset, size=size
    )
    async with stream:
        parts = []
        got = 0
        while got < size:
            chunk = await stream.read(size - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    data = b"".join(parts)
    if stats is not None:
        stats.add(len(data))
    if len(data) != size:
        raise LTXFormatError(
            f"LTX file {info.name} (level {info.level}): read {len(data)} of {size} bytes "
            f"at offset {offset}"
        )
    return data


def _header(raw: bytes, info: LTXFileInfo) -> Header:
    header = Header.decode(raw)
    header.validate()
    if (header.min_txid, header.max_txid) != (info.min_txid, info.max_txid):
        raise LTXFormatError(
            f"LTX file {info.name} (level {info.level}) has TXIDs "
            f"{header.min_txid:016x}-{header.max_txid:016x} in its header"
        )
    return header


def _index_from_tail(tail: bytes, info: LTXFileInfo) -> PageIndex:
    area_size = _SIZE_FIELD.unpack_from(tail, len(tail) - _TAIL)[0]
    start = len(tail) - _TAIL - area_size
    if area_size < 1 or start < 0:
        raise LTXFormatError(f"LTX file {info.name}: page index size {area_size} does not fit")
    return PageIndex(tail[start : len(tail) - _TAIL])
