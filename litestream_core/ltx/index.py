"""The page index: where each page's frame sits, for reading single pages by seeking.

Entries are (page number, frame offset, frame size) varints in page order, ended by a
zero varint and followed by the byte length of that varint area as a big-endian u64.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from litestream_core.errors import LTXFormatError
from litestream_core.ltx._io import read_exact
from litestream_core.ltx.header import HEADER_SIZE, PAGE_HEADER_SIZE, TRAILER_SIZE
from litestream_core.ltx.page import decode_frame
from litestream_core.ltx.varint import decode_uvarint, encode_uvarint

if TYPE_CHECKING:
    from litestream_core.compression import Compressor

INDEX_SIZE_FIELD = struct.Struct(">Q")
_MIN_FRAME = PAGE_HEADER_SIZE + 1


class PageIndexElem(NamedTuple):
    offset: int
    """Absolute offset of the page's frame (its page header) in the file."""
    size: int
    """Bytes of the whole frame: page header, size field and compressed page."""


class IndexBuilder:
    """Accumulates the index as encoded bytes: a few bytes per page, never page data.

    ``encode`` completes the buffer in place and seals it, so the index of a large file
    (some 18 MB for 10 GiB of 4 KiB pages) is never copied.
    """

    __slots__ = ("_buf", "_sealed")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._sealed = False

    def add(self, pgno: int, offset: int, size: int) -> None:
        # Once per page of every file read or written: values of up to four bytes (page
        # numbers, frame sizes, offsets below 256 MiB) are encoded here, without a call.
        buf = self._buf
        for v in (pgno, offset, size):
            if v < 0x80:
                buf.append(v)
            elif v < 0x4000:
                buf += bytes((v & 0x7F | 0x80, v >> 7))
            elif v < 0x200000:
                buf += bytes((v & 0x7F | 0x80, v >> 7 & 0x7F | 0x80, v >> 14))
            elif v < 0x10000000:
                low = v & 0x7F | 0x80, v >> 7 & 0x7F | 0x80, v >> 14 & 0x7F | 0x80
                buf += bytes((*low, v >> 21))
            else:
                buf += encode_uvarint(v)

    def encode(self) -> bytearray:
        """The index as stored: entries, zero terminator, then the area's length."""
        if not self._sealed:
            self._sealed = True
            self._buf += b"\x00"
            self._buf += INDEX_SIZE_FIELD.pack(len(self._buf))
        return self._buf

    def entries(self) -> dict[int, PageIndexElem]:
        return parse_index_area(bytes(self.encode()[: -INDEX_SIZE_FIELD.size]))


def parse_index_area(area: bytes) -> dict[int, PageIndexElem]:
    """Parse the varint area (terminator included, size field excluded), checking shape."""
    index, end = scan_index(area)
    if end != len(area):
        raise LTXFormatError("LTX page index has bytes after its terminator")
    return index


def scan_index(buf: bytes) -> tuple[dict[int, PageIndexElem], int]:
    """Parse index entries from the start of ``buf``; return them and the terminator's end."""
    index: dict[int, PageIndexElem] = {}
    pos = 0
    prev = 0
    while True:
        pgno, pos = decode_uvarint(buf, pos, "page index")
        if pgno == 0:
            break
        offset, pos = decode_uvarint(buf, pos, "page index")
        size, pos = decode_uvarint(buf, pos, "page index")
        if pgno <= prev or pgno > 0xFFFFFFFF:
            raise LTXFormatError(f"LTX page index out of order at page {pgno}")
        if offset < HEADER_SIZE or size < _MIN_FRAME:
            raise LTXFormatError(f"LTX page index entry for page {pgno} is impossible")
        index[pgno] = PageIndexElem(offset, size)
        prev = pgno
    return index, pos


def read_page_index(src: BinaryIO) -> dict[int, PageIndexElem]:
    """Read the index of a seekable LTX file from its end, without reading any page."""
    file_size = src.seek(0, os.SEEK_END)
    tail = TRAILER_SIZE + INDEX_SIZE_FIELD.size
    if file_size < HEADER_SIZE + PAGE_HEADER_SIZE + 1 + tail:
        raise LTXFormatError(f"LTX file too small to hold a page index: {file_size} bytes")
    src.seek(file_size - tail)
    area_size = INDEX_SIZE_FIELD.unpack(read_exact(src, INDEX_SIZE_FIELD.size, "index size"))[0]
    area_start = file_size - tail - area_size
    if area_size < 1 or area_start < HEADER_SIZE + PAGE_HEADER_SIZE:
        raise LTXFormatError(f"LTX page index size {area_size} does not fit the file")
    src.seek(area_start)
    index = parse_index_area(read_exact(src, area_size, "page index"))
    pages_end = area_start - PAGE_HEADER_SIZE
    for pgno, elem in index.items():
        if elem.offset + elem.size > pages_end:
            raise LTXFormatError(f"LTX page index entry for page {pgno} points past the pages")
    return index


def read_page(
    src: BinaryIO,
    elem: PageIndexElem,
    page_size: int,
    pgno: int | None = None,
    codec: Compressor | None = None,
) -> bytes:
    """Read one page through its index entry; ``pgno`` checks the frame is the right page,
    ``codec`` is the one the file's header names (None: LZ4).

    Random access cannot check the file checksum (that needs every byte); callers who
    need verified pages decode the whole file once with Decoder first.
    """
    src.seek(elem.offset)
    return decode_frame(read_exact(src, elem.size, "page frame"), page_size, pgno, codec)
