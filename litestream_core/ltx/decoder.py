"""Streaming LTX decoder that checks every rule of the format while it reads.

Pages come out one at a time as they are decoded. The file checksum covers all of
them and sits at the very end, so a page is only known good once ``pages()`` has been
exhausted without an error: consumers stage pages and commit them only after that.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

import lz4.block

from litestream_core.compression import BUILTIN_CODECS, LZ4BlockCompressor, PageCodecs
from litestream_core.errors import ChecksumMismatchError, LTXFormatError
from litestream_core.ltx._io import read_exact, read_upto
from litestream_core.ltx.checksum import DatabaseChecksum, _go_iso, crc64
from litestream_core.ltx.header import (
    CHECKSUM_FLAG,
    HEADER_SIZE,
    PAGE_FLAG_SIZE,
    PAGE_HEADER_SIZE,
    TRAILER_SIZE,
    Header,
    Trailer,
)
from litestream_core.ltx.index import (
    INDEX_SIZE_FIELD,
    IndexBuilder,
    PageIndexElem,
    parse_index_area,
    scan_index,
)
from litestream_core.ltx.page import (
    _LZ4_ERRORS,
    PAGE_END,
    PAGE_HEADER,
    SIZE_FIELD,
    block_bound,
    check_block_size,
    check_page_flags,
    decompress_block,
    next_snapshot_pgno,
    read_legacy_frame,
)


class Decoder:
    """Read an LTX file from ``src``; the header is read and validated on construction.

    The page codec is the one the header names, looked up in ``codecs`` (LZ4 only when
    None): a file whose codec is not installed fails here, before any page is read.
    """

    def __init__(self, src: BinaryIO, codecs: PageCodecs | None = None) -> None:
        self._src = src
        raw = read_exact(src, HEADER_SIZE, "header")
        self.header = Header.decode(raw)
        self.header.validate()
        self.codec = (codecs or BUILTIN_CODECS).get(self.header.page_codec)
        self._crc = crc64(raw)
        self._index = IndexBuilder()
        self._started = False
        self._trailer: Trailer | None = None
        self._past_end = b""

    @property
    def trailer(self) -> Trailer:
        if self._trailer is None:
            raise RuntimeError("LTX trailer is only known after all pages were read")
        return self._trailer

    @property
    def page_index(self) -> dict[int, PageIndexElem]:
        if self._trailer is None:
            raise RuntimeError("LTX page index is only known after all pages were read")
        return self._index.entries()

    def pages(self) -> Iterator[tuple[int, bytes]]:
        """Yield (page number, page bytes) in order, then verify index and trailer.

        The iterator raises LTXFormatError or ChecksumMismatchError instead of ending
        normally if anything is wrong; it can be consumed once.
        """
        if self._started:
            raise RuntimeError("LTX pages can only be read once")
        self._started = True
        return self._read_pages()

    def verify(self) -> Trailer:
        """Read and check the whole file, discarding the pages."""
        for _ in self.pages():
            pass
        return self.trailer

    def _read_pages(self) -> Iterator[tuple[int, bytes]]:
        """The checks of ``check_page_flags``, ``_check_order``, ``check_block_size`` and
        ``decompress_block``, inlined for frames with a size field (every file written
        since that field exists): a snapshot is one pass of this loop per page, and
        the calls cost as much as decompressing."""
        src, hdr, index = self._src, self.header, self._index
        page_size, commit, lock = hdr.page_size, hdr.commit, hdr.lock_pgno
        snapshot, codec = hdr.is_snapshot, self.codec
        db_sum = DatabaseChecksum() if snapshot and not hdr.no_checksum else None
        crc, offset, prev = self._crc, HEADER_SIZE, 0
        read, unpack_head, unpack_size = src.read, PAGE_HEADER.unpack, SIZE_FIELD.unpack
        decompress, go_iso, add = lz4.block.decompress, _go_iso, index.add
        bound = block_bound(page_size, codec)
        fast = type(codec) is LZ4BlockCompressor  # LZ4 inline; other codecs by their call
        sized = PAGE_HEADER_SIZE + SIZE_FIELD.size
        ahead = PAGE_HEADER_SIZE  # once a sized frame was seen: header and size at once
        while True:
            head = read(ahead)
            if len(head) < PAGE_HEADER_SIZE:
                head += read_exact(src, PAGE_HEADER_SIZE - len(head), "page header")
            pgno, flags = unpack_head(head[:PAGE_HEADER_SIZE])
            if pgno == 0 and flags == 0:
                # The end marker: what was read past it belongs to the page index.
                self._past_end = head[PAGE_HEADER_SIZE:]
                break
            if flags != PAGE_FLAG_SIZE:
                check_page_flags(pgno, flags)
            if (
                pgno > commit
                or pgno == lock
                or (pgno != next_snapshot_pgno(prev, lock) if snapshot else pgno <= prev)
            ):
                _check_order(pgno, prev, commit, lock, snapshot)
            if flags & PAGE_FLAG_SIZE:
                if len(head) < sized:
                    head += read_exact(src, sized - len(head), f"page {pgno} size")
                size = unpack_size(head[PAGE_HEADER_SIZE:])[0]
                if size == 0 or size > bound:
                    check_block_size(pgno, size, page_size, codec)
                block = read(size)
                if len(block) != size:
                    block += read_exact(src, size - len(block), f"page {pgno} data")
                if fast:
                    try:
                        data = decompress(block, uncompressed_size=page_size)
                    except _LZ4_ERRORS:
                        raise LTXFormatError(f"LTX page {pgno}: corrupt LZ4 block") from None
                    if len(data) != page_size:
                        decompress_block(block, page_size, pgno)  # raises, saying why
                else:
                    data = decompress_block(block, page_size, pgno, codec)
                crc = go_iso(data, initial=go_iso(head, initial=crc))
                frame_size = sized + size
                ahead = sized
            else:
                if hdr.codec:
                    raise LTXFormatError(f"LTX page {pgno}: {hdr.codec} page without a size")
                # Bytes read ahead for a size field start this legacy frame instead.
                legacy_src = _Prefixed(head[PAGE_HEADER_SIZE:], src)
                head = head[:PAGE_HEADER_SIZE]
                consumed, data = read_legacy_frame(legacy_src, page_size, pgno)  # type: ignore[arg-type]
                ahead = PAGE_HEADER_SIZE
                crc = crc64(data, crc64(head, crc))
                frame_size = PAGE_HEADER_SIZE + consumed
            add(pgno, offset, frame_size)
            offset += frame_size
            if db_sum is not None:
                db_sum.add(pgno, data)
            prev = pgno
            yield pgno, data

        if snapshot:
            last = commit - 1 if commit == lock else commit
            if prev != last:
                raise LTXFormatError(
                    f"LTX snapshot incomplete: pages end at {prev}, commit is {commit}"
                )
        crc = crc64(PAGE_END, crc)
        expected = index.encode()
        past = self._past_end
        rest = past + read_upto(src, len(expected) + TRAILER_SIZE + 1 - len(past))
        area_len = _check_index(rest, expected)
        raw = rest[area_len + INDEX_SIZE_FIELD.size :]
        if len(raw) < TRAILER_SIZE:
            raise LTXFormatError(f"LTX file truncated in trailer: {len(raw)} of 16 bytes")
        if len(raw) > TRAILER_SIZE:
            raise LTXFormatError("unexpected data after the LTX trailer")
        actual = rest[: area_len + INDEX_SIZE_FIELD.size]
        trailer = Trailer.decode(raw)
        trailer.validate(hdr)
        file_sum = CHECKSUM_FLAG | crc64(raw[:8], crc64(actual, crc))
        if file_sum != trailer.file_checksum:
            raise ChecksumMismatchError(
                f"LTX file checksum mismatch: trailer says {trailer.file_checksum:016x}, "
                f"content gives {file_sum:016x}"
            )
        if db_sum is not None and db_sum.value != trailer.post_apply_checksum:
            raise ChecksumMismatchError(
                f"LTX snapshot post-apply checksum {trailer.post_apply_checksum:016x} does "
                f"not match its pages ({db_sum.value:016x})"
            )
        if commit == 0 and not hdr.no_checksum and trailer.post_apply_checksum != CHECKSUM_FLAG:
            raise ChecksumMismatchError("LTX file empties the database but its checksum is not")
        self._trailer = trailer


def _check_order(pgno: int, prev: int, commit: int, lock: int, snapshot: bool) -> None:
    if pgno > commit:
        raise LTXFormatError(f"LTX page {pgno} is past the commit size {commit}")
    if pgno == lock:
        raise LTXFormatError(f"LTX file stores the lock page {pgno}")
    if snapshot:
        if pgno != next_snapshot_pgno(prev, lock):
            raise LTXFormatError(f"LTX snapshot skips from page {prev} to {pgno}")
    elif pgno <= prev:
        raise LTXFormatError(f"LTX pages out of order: {pgno} after {prev}")


def _check_index(rest: bytes, expected: bytes) -> int:
    """Check the stored index against the one the frames imply; return its area length."""
    want_area = expected[: -INDEX_SIZE_FIELD.size]
    if rest.startswith(want_area):
        area_len = len(want_area)
    elif want_area.startswith(rest):
        raise LTXFormatError(f"LTX file truncated in page index: {len(rest)} bytes left")
    else:
        got, area_len = scan_index(rest)
        want = parse_index_area(want_area)
        for pgno, elem in want.items():
            if got.get(pgno) != elem:
                raise LTXFormatError(
                    f"LTX page index entry for page {pgno} does not match its frame"
                )
        if got.keys() != want.keys():
            raise LTXFormatError("LTX page index lists pages the file does not hold")
        raise LTXFormatError("LTX page index is not canonically encoded")
    size_raw = rest[area_len : area_len + INDEX_SIZE_FIELD.size]
    if len(size_raw) < INDEX_SIZE_FIELD.size:
        raise LTXFormatError("LTX file truncated in page index size")
    stated: int = INDEX_SIZE_FIELD.unpack(size_raw)[0]
    if stated != area_len:
        raise LTXFormatError(f"LTX page index size field is {stated}, expected {area_len}")
    return area_len


def decode_file(
    data: bytes, codecs: PageCodecs | None = None
) -> tuple[Header, list[tuple[int, bytes]], Trailer]:
    """Decode and verify a whole LTX file held in memory."""
    dec = Decoder(io.BytesIO(data), codecs)
    pages = list(dec.pages())
    return dec.header, pages, dec.trailer


def verify_file(src: BinaryIO, codecs: PageCodecs | None = None) -> tuple[Header, Trailer]:
    """Check an LTX file end to end without keeping its pages."""
    dec = Decoder(src, codecs)
    return dec.header, dec.verify()


class _Prefixed(io.RawIOBase):
    """``src`` with ``prefix`` put back in front of it (bytes read ahead)."""

    def __init__(self, prefix: bytes, src: BinaryIO) -> None:
        self._prefix = prefix
        self._src = src

    def read(self, n: int = -1) -> bytes:
        if not self._prefix:
            return self._src.read(n)
        if n < 0 or n > len(self._prefix):
            head, self._prefix = self._prefix, b""
            return head + self._src.read(-1 if n < 0 else n - len(head))
        head, self._prefix = self._prefix[:n], self._prefix[n:]
        return head
