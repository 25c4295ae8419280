"""Page frames: a 6-byte page header, a size, and the page as one compressed block.

The block is raw LZ4 unless the file's header names another codec. Frames written
before the size flag existed hold an LZ4 *frame* with no length prefix; they are still
readable. Their extent is found by walking the LZ4 frame structure, so a stream never
has to be read past the frame (there is no way to push bytes back).
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

import lz4.block
import lz4.frame

from litestream_core.compression import Compressor, LZ4BlockCompressor
from litestream_core.errors import LTXFormatError
from litestream_core.ltx._io import read_exact
from litestream_core.ltx.header import PAGE_FLAG_SIZE, PAGE_HEADER_SIZE

PAGE_HEADER = struct.Struct(">IH")
SIZE_FIELD = struct.Struct(">I")
PAGE_END = bytes(PAGE_HEADER_SIZE)

_LZ4_ERRORS = (lz4.block.LZ4BlockError, RuntimeError, ValueError, OverflowError)
_LZ4_FRAME_MAGIC = 0x184D2204
_LE32 = struct.Struct("<I")


def compress_bound(size: int) -> int:
    """LZ4's worst-case block size for ``size`` input bytes (LZ4_COMPRESSBOUND)."""
    return size + size // 255 + 16


def block_bound(page_size: int, codec: Compressor | None = None) -> int:
    """The largest compressed block a page can need: LZ4's exact bound, or a generous
    one for other codecs (zstd's is a little above LZ4's)."""
    if codec is None or isinstance(codec, LZ4BlockCompressor):
        return compress_bound(page_size)
    return page_size + page_size // 8 + 1024


def compress_page(data: bytes | bytearray | memoryview, codec: Compressor | None = None) -> bytes:
    if codec is None or type(codec) is LZ4BlockCompressor:  # the hot path: no indirection
        return bytes(lz4.block.compress(data, store_size=False))
    return bytes(codec.compress(bytes(data)))


def decompress_block(
    block: bytes, page_size: int, pgno: int, codec: Compressor | None = None
) -> bytes:
    """Decompress one page; anything but exactly ``page_size`` bytes is corruption."""
    if codec is None or type(codec) is LZ4BlockCompressor:
        try:
            data = lz4.block.decompress(block, uncompressed_size=page_size)
        except _LZ4_ERRORS:
            raise LTXFormatError(f"LTX page {pgno}: corrupt LZ4 block") from None
    else:
        try:
            data = codec.decompress(block, page_size)
        except Exception:
            raise LTXFormatError(f"LTX page {pgno}: corrupt {codec.name} block") from None
    if len(data) != page_size:
        raise LTXFormatError(
            f"LTX page {pgno}: decompressed to {len(data)} bytes, expected {page_size}"
        )
    return bytes(data)


def next_snapshot_pgno(prev: int, lock: int) -> int:
    """The page a snapshot must hold after ``prev``: the next one, stepping over the lock page."""
    return prev + 2 if prev + 1 == lock else prev + 1


def check_page_flags(pgno: int, flags: int) -> None:
    if pgno == 0:
        raise LTXFormatError("LTX page frame with page number 0 and non-zero flags")
    if flags & ~PAGE_FLAG_SIZE:
        raise LTXFormatError(f"LTX page {pgno}: invalid page flags 0x{flags:04x}")


def check_block_size(pgno: int, size: int, page_size: int, codec: Compressor | None = None) -> None:
    if size == 0 or size > block_bound(page_size, codec):
        raise LTXFormatError(f"LTX page {pgno}: impossible compressed size {size}")


def read_legacy_frame(src: BinaryIO, page_size: int, pgno: int) -> tuple[int, bytes]:
    """Read one legacy LZ4-frame page; return (bytes consumed, page)."""
    what = f"page {pgno} LZ4 frame"
    limit = 2 * compress_bound(page_size) + 64
    parts = [read_exact(src, 6, what)]
    magic, flg, bd = _LE32.unpack_from(parts[0])[0], parts[0][4], parts[0][5]
    if magic != _LZ4_FRAME_MAGIC:
        raise LTXFormatError(f"LTX page {pgno}: bad LZ4 frame magic 0x{magic:08x}")
    if flg >> 6 != 1 or flg & 0x03 or bd & 0x8F or not 4 <= (bd >> 4) & 7 <= 7:
        raise LTXFormatError(f"LTX page {pgno}: bad LZ4 frame descriptor")
    has_block_sum, has_size, has_content_sum = flg & 0x10, flg & 0x08, flg & 0x04
    parts.append(read_exact(src, (8 if has_size else 0) + 1, what))
    total = sum(map(len, parts))
    while True:
        raw = read_exact(src, 4, what)
        parts.append(raw)
        size = _LE32.unpack(raw)[0] & 0x7FFFFFFF
        total += 4
        if size == 0:
            break
        total += size + (4 if has_block_sum else 0)
        if total > limit:
            raise LTXFormatError(f"LTX page {pgno}: LZ4 frame larger than any page encoding")
        parts.append(read_exact(src, size + (4 if has_block_sum else 0), what))
    if has_content_sum:
        parts.append(read_exact(src, 4, what))
    frame = b"".join(parts)
    try:
        data = lz4.frame.decompress(frame)
    except _LZ4_ERRORS:
        raise LTXFormatError(f"LTX page {pgno}: corrupt LZ4 frame") from None
    if len(data) != page_size:
        raise LTXFormatError(
            f"LTX page {pgno}: decompressed to {len(data)} bytes, expected {page_size}"
        )
    return len(frame), bytes(data)


def decode_frame(
    frame: bytes, page_size: int, pgno: int | None = None, codec: Compressor | None = None
) -> bytes:
    """Decode one complete page frame held in memory (random access through the index).

    ``codec`` is the one the file's header names (None: LZ4).
    """
    if len(frame) < PAGE_HEADER_SIZE:
        raise LTXFormatError("LTX page frame truncated")
    got_pgno, flags = PAGE_HEADER.unpack_from(frame)
    check_page_flags(got_pgno, flags)
    if pgno is not None and got_pgno != pgno:
        raise LTXFormatError(f"LTX page index points at page {got_pgno}, expected {pgno}")
    if flags & PAGE_FLAG_SIZE:
        if len(frame) < PAGE_HEADER_SIZE + SIZE_FIELD.size:
            raise LTXFormatError(f"LTX page {got_pgno}: frame truncated")
        body = frame[PAGE_HEADER_SIZE + SIZE_FIELD.size :]
        size = SIZE_FIELD.unpack_from(frame, PAGE_HEADER_SIZE)[0]
        check_block_size(got_pgno, size, page_size, codec)
        if size != len(body):
            raise LTXFormatError(
                f"LTX page {got_pgno}: frame holds {len(body)} bytes, size field says {size}"
            )
        return decompress_block(body, page_size, got_pgno, codec)
    body_src = io.BytesIO(frame[PAGE_HEADER_SIZE:])
    consumed, data = read_legacy_frame(body_src, page_size, got_pgno)
    if consumed != len(frame) - PAGE_HEADER_SIZE:
        raise LTXFormatError(f"LTX page {got_pgno}: trailing bytes after LZ4 frame")
    return data
