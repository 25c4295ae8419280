"""Unsigned LEB128 varints as Go's ``encoding/binary`` writes them (page index fields)."""

from __future__ import annotations

from litestream_core.errors import LTXFormatError

_MAX_UINT64 = (1 << 64) - 1


def encode_uvarint(value: int) -> bytes:
    # Unrolled for the sizes page numbers, offsets and frame sizes actually have.
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    if value < 0x200000:
        return bytes((value & 0x7F | 0x80, (value >> 7) & 0x7F | 0x80, value >> 14))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(buf: bytes | bytearray, pos: int, what: str) -> tuple[int, int]:
    """Return (value, next position); reject truncation and values past 64 bits like Go."""
    value = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise LTXFormatError(f"bad varint in LTX {what}: truncated")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > _MAX_UINT64:
                raise LTXFormatError(f"bad varint in LTX {what}: overflows 64 bits")
            return value, pos
        shift += 7
        if shift >= 70:
            raise LTXFormatError(f"bad varint in LTX {what}: overflows 64 bits")
