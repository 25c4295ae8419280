"""Streaming LTX decoder that checks every rule of the format while it reads.

Pages come out one at a time as they are decoded. The file checksum covers all of
them and sits at the very end, so a page is only known good once ``pages()`` has been
exhausted without an error: consumers stage pages and commit them only after that.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
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

_FRAME = struct.Struct(">IHI")
"""A page header and its size field, parsed at once."""
_CHUNK = 1 << 20
"""Bytes read from the source at a time."""


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
        """Decode frames from a buffer of up to ``_CHUNK`` bytes read at once.

        The checks of ``check_page_flags``, ``_check_order``, ``check_block_size`` and
        ``decompress_block`` are inlined for frames with a size field (every file
        written since that field exists), and each such frame is parsed with one
        ``unpack_from``: a snapshot is one pass of this loop per page, and per-page
        calls cost as much as decompressing. The rare cases (legacy frames, bad flags,
        truncation) leave the fast path through the helpers that say what is wrong.
        """
        src, hdr, index = self._src, self.header, self._index
        page_size, commit, lock = hdr.page_size, hdr.commit, hdr.lock_pgno
        snapshot, codec = hdr.is_snapshot, self.codec
        db_sum = DatabaseChecksum() if snapshot and not hdr.no_checksum else None
        crc, prev = self._crc, 0
        read, unpack_frame = src.read, _FRAME.unpack_from
        decompress, go_iso, add = lz4.block.decompress, _go_iso, index.add
        bound = block_bound(page_size, codec)
        fast = type(codec) is LZ4BlockCompressor  # LZ4 inline; other codecs by their call
        sized = PAGE_HEADER_SIZE + SIZE_FIELD.size
        buf, base, pos, end = b"", HEADER_SIZE, 0, 0  # base: file offset of buf[0]
        view = memoryview(buf)
        while True:
            if len(buf) - pos < sized:
                base += pos
                buf, pos = _refill(buf, pos, sized, read), 0
                view = memoryview(buf)
                if len(buf) < sized:
                    if len(buf) < PAGE_HEADER_SIZE:
                        raise LTXFormatError(
                            f"LTX file truncated in page header: {len(buf)} of "
                            f"{PAGE_HEADER_SIZE} bytes"
                        )
                    pgno, flags = PAGE_HEADER.unpack_from(buf)
                    if flags & PAGE_FLAG_SIZE:
                        check_page_flags(pgno, flags)
                        raise LTXFormatError(f"LTX file truncated in page {pgno} size")
                    size = -1  # the end marker or a legacy frame: both handled below
                else:
                    pgno, flags, size = unpack_frame(buf)
            else:
                pgno, flags, size = unpack_frame(buf, pos)
            if flags != PAGE_FLAG_SIZE:
                if pgno == 0 and flags == 0:
                    # The end marker: what was read past it belongs to the page index.
                    self._past_end = buf[pos + PAGE_HEADER_SIZE :]
                    break
                check_page_flags(pgno, flags)
            # A snapshot's step over the lock page is told from a skipped page there.
            if pgno > commit or pgno == lock or (pgno != prev + 1 if snapshot else pgno <= prev):
                _check_order(pgno, prev, commit, lock, snapshot)
            if flags & PAGE_FLAG_SIZE:
                if size == 0 or size > bound:
                    check_block_size(pgno, size, page_size, codec)
                start = pos + sized
                end = start + size
                if end > len(buf):
                    base += pos
                    buf = _refill(buf, pos, sized + size, read)
                    view = memoryview(buf)
                    start, end, pos = sized, sized + size, 0
                    if end > len(buf):
                        raise LTXFormatError(
                            f"LTX file truncated in page {pgno} data: "
                            f"{len(buf) - sized} of {size} bytes"
                        )
                if fast:
                    try:
                        data = decompress(view[start:end], uncompressed_size=page_size)
                    except _LZ4_ERRORS:
                        raise LTXFormatError(f"LTX page {pgno}: corrupt LZ4 block") from None
                    if len(data) != page_size:
                        decompress_block(bytes(view[start:end]), page_size, pgno)  # says why
                else:
                    data = decompress_block(bytes(view[start:end]), page_size, pgno, codec)
                crc = go_iso(data, initial=go_iso(view[pos:start], initial=crc))
            else:
                if hdr.codec:
                    raise LTXFormatError(f"LTX page {pgno}: {hdr.codec} page without a size")
                legacy = _Rest(view, pos + PAGE_HEADER_SIZE, src)
                consumed, data = read_legacy_frame(legacy, page_size, pgno)  # type: ignore[arg-type]
                crc = crc64(data, crc64(view[pos : pos + PAGE_HEADER_SIZE], crc))
                end = pos + PAGE_HEADER_SIZE + consumed
            add(pgno, base + pos, end - pos)
            if end > len(buf):  # a legacy frame went past the buffer: src is right after it
                base, buf, end = base + end, b"", 0
                view = memoryview(buf)
            pos = end
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
        raw = _after_index(src, self._past_end, expected)
        if len(raw) < TRAILER_SIZE:
            raise LTXFormatError(f"LTX file truncated in trailer: {len(raw)} of 16 bytes")
        if len(raw) > TRAILER_SIZE:
            raise LTXFormatError("unexpected data after the LTX trailer")
        trailer = Trailer.decode(raw)
        trailer.validate(hdr)
        # The stored index (and its size field) is byte for byte ``expected``.
        file_sum = CHECKSUM_FLAG | crc64(raw[:8], crc64(expected, crc))
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


def _after_index(src: BinaryIO, past: bytes, expected: bytearray) -> bytes:
    """Read the stored page index, checking it equals ``expected`` a piece at a time, and
    return what follows it (the trailer, in a sound file).

    ``past`` holds the bytes already read after the end marker. Compared as they come,
    a large file's index (megabytes) is not held a second time; where the two differ,
    the rest is read whole for ``_index_mismatch`` to say how.
    """
    n = len(expected)
    done, piece = 0, past or src.read(min(_CHUNK, n + TRAILER_SIZE + 1))
    while piece:
        take = min(len(piece), n - done)
        if piece[:take] != expected[done : done + take]:
            break
        done += take
        if done == n:
            rest = piece[take:]
            return read_upto(src, TRAILER_SIZE + 1 - len(rest), rest)
        piece = src.read(min(_CHUNK, n - done + TRAILER_SIZE + 1))
    rest = read_upto(src, n + TRAILER_SIZE + 1 - done - len(piece), bytes(expected[:done]) + piece)
    raise _index_mismatch(rest, expected)


def _index_mismatch(rest: bytes, expected: bytearray) -> LTXFormatError:
    """How the stored index (from the start of ``rest``) differs from the one the frames
    imply (``expected``, which ``rest`` does not start with)."""
    want_area = expected[: -INDEX_SIZE_FIELD.size]
    if rest.startswith(want_area):
        size_raw = rest[len(want_area) : len(expected)]
        if len(size_raw) < INDEX_SIZE_FIELD.size:
            return LTXFormatError("LTX file truncated in page index size")
        stated = INDEX_SIZE_FIELD.unpack(size_raw)[0]
        return LTXFormatError(f"LTX page index size field is {stated}, expected {len(want_area)}")
    if want_area.startswith(rest):
        return LTXFormatError(f"LTX file truncated in page index: {len(rest)} bytes left")
    got, _ = scan_index(rest)
    want = parse_index_area(bytes(want_area))
    for pgno, elem in want.items():
        if got.get(pgno) != elem:
            return LTXFormatError(f"LTX page index entry for page {pgno} does not match its frame")
    if got.keys() != want.keys():
        return LTXFormatError("LTX page index lists pages the file does not hold")
    return LTXFormatError("LTX page index is not canonically encoded")


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


class _Rest:
    """The bytes of ``view`` from ``pos``, then ``src``: a legacy frame's reader.

    Reads never go past what is asked for, so once the buffer is used up ``src`` is
    left right after the frame.
    """

    def __init__(self, view: memoryview, pos: int, src: BinaryIO) -> None:
        self._view = view
        self._pos = pos
        self._src = src

    def read(self, n: int) -> bytes:
        if self._pos < len(self._view):
            chunk = bytes(self._view[self._pos : self._pos + n])
            self._pos += len(chunk)
            return chunk  # possibly short: read_exact asks again
        return self._src.read(n)


def _refill(buf: bytes, pos: int, need: int, read: Callable[[int], bytes]) -> bytes:
    """The unread rest of ``buf`` followed by more of the file: ``need`` bytes in all, or
    fewer at its end.

    With nothing left over a whole chunk is read; a frame cut by the buffer's end is
    only completed, so the next read starts a fresh chunk and nothing large is copied.
    """
    rest = buf[pos:]
    parts = [rest] if rest else []
    have = len(rest)
    while have < need:
        chunk = read(need - have if rest else max(need - have, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)
