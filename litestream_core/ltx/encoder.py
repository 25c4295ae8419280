"""Streaming LTX encoder: one page in, one frame out; only the small index is kept."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import BinaryIO

from litestream_core.compression import Compressor, LZ4BlockCompressor
from litestream_core.errors import ChecksumMismatchError, LTXFormatError
from litestream_core.ltx.checksum import DatabaseChecksum, crc64
from litestream_core.ltx.header import CHECKSUM_FLAG, PAGE_FLAG_SIZE, Header, Trailer
from litestream_core.ltx.index import IndexBuilder
from litestream_core.ltx.page import (
    PAGE_END,
    PAGE_HEADER,
    SIZE_FIELD,
    compress_page,
    next_snapshot_pgno,
)


class Encoder:
    """Write an LTX file to ``out``: the header now, frames per page, index on finish.

    It refuses what Go's decoder rejects (page order, lock page, incomplete snapshots)
    and a snapshot whose post-apply checksum disagrees with its pages, so a bad file is
    never produced, not merely detected later. Go 0.5.17 writes every file with
    HEADER_FLAG_NO_CHECKSUM and its restore fails on files that carry checksums, so a
    replica Go must be able to restore needs that flag.

    Pages are compressed with ``codec`` (LZ4 when None, Go's format); another codec is
    recorded in the header (``self.header`` is the header actually written).
    """

    def __init__(self, out: BinaryIO, header: Header, codec: Compressor | None = None) -> None:
        self._codec = codec or LZ4BlockCompressor()
        header = header.with_codec(self._codec.name)
        header.validate()
        self._out = out
        self.header = header
        self._page_size = header.page_size
        self._lock = header.lock_pgno
        self._snapshot = header.is_snapshot
        self._db_checksum = (
            DatabaseChecksum() if self._snapshot and not header.no_checksum else None
        )
        raw = header.encode()
        out.write(raw)
        self._crc = crc64(raw)
        self._n = len(raw)
        self._prev = 0
        self._index = IndexBuilder()
        self._trailer: Trailer | None = None

    @property
    def trailer(self) -> Trailer:
        if self._trailer is None:
            raise RuntimeError("LTX encoder not finished")
        return self._trailer

    def write_page(self, pgno: int, data: bytes | bytearray | memoryview) -> None:
        if self._trailer is not None:
            raise LTXFormatError("LTX encoder already finished")
        if len(data) != self._page_size:
            raise LTXFormatError(
                f"page {pgno} is {len(data)} bytes, LTX page size is {self._page_size}"
            )
        if pgno < 1 or pgno > self.header.commit:
            raise LTXFormatError(f"page {pgno} out of range for commit {self.header.commit}")
        if pgno == self._lock:
            raise LTXFormatError(f"page {pgno} is the lock page and cannot be stored")
        if self._snapshot:
            if pgno != next_snapshot_pgno(self._prev, self._lock):
                raise LTXFormatError(
                    f"snapshot pages must be consecutive: page {pgno} after {self._prev}"
                )
            if self._db_checksum is not None:
                self._db_checksum.add(pgno, data)
        elif pgno <= self._prev:
            raise LTXFormatError(f"LTX pages out of order: page {pgno} after {self._prev}")

        block = compress_page(data, self._codec)
        head = PAGE_HEADER.pack(pgno, PAGE_FLAG_SIZE) + SIZE_FIELD.pack(len(block))
        self._out.write(head)
        self._out.write(block)
        self._crc = crc64(data, crc64(head, self._crc))
        size = len(head) + len(block)
        self._index.add(pgno, self._n, size)
        self._n += size
        self._prev = pgno

    def finish(self, post_apply_checksum: int) -> Trailer:
        """Write the end marker, index and trailer; return the trailer."""
        if self._trailer is not None:
            raise LTXFormatError("LTX encoder already finished")
        hdr = self.header
        if self._snapshot:
            last = hdr.commit - 1 if hdr.commit == self._lock else hdr.commit
            if self._prev != last:
                raise LTXFormatError(
                    f"snapshot incomplete: ended at page {self._prev}, commit is {hdr.commit}"
                )
        trailer = Trailer(post_apply_checksum, CHECKSUM_FLAG)
        trailer.validate(hdr)
        if hdr.commit == 0 and post_apply_checksum != CHECKSUM_FLAG:
            raise LTXFormatError("an empty database must have the empty post-apply checksum")
        if self._db_checksum is not None and self._db_checksum.value != post_apply_checksum:
            raise ChecksumMismatchError(
                f"snapshot post-apply checksum {post_apply_checksum:016x} does not match "
                f"its pages ({self._db_checksum.value:016x})"
            )
        # Written piece by piece: the index of a large file is megabytes, not copied.
        tail = (PAGE_END, self._index.encode(), Trailer(post_apply_checksum, 0).encode()[:8])
        crc = self._crc
        for piece in tail:
            crc = crc64(piece, crc)
            self._out.write(piece)
        trailer = Trailer(post_apply_checksum, CHECKSUM_FLAG | crc)
        self._out.write(trailer.encode()[8:])
        self._n += sum(map(len, tail)) + 8
        self._trailer = trailer
        return trailer

    @property
    def bytes_written(self) -> int:
        """Size of the file so far (the whole file once finished): what a replica stores."""
        return self._n


def encode_file(
    header: Header,
    pages: Iterable[tuple[int, bytes]],
    post_apply_checksum: int,
    codec: Compressor | None = None,
) -> bytes:
    """Encode a whole LTX file in memory (tests, small files)."""
    buf = io.BytesIO()
    enc = Encoder(buf, header, codec)
    for pgno, data in pages:
        enc.write_page(pgno, data)
    enc.finish(post_apply_checksum)
    return buf.getvalue()
