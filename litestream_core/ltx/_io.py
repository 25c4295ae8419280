"""Exact reads from binary streams: short reads must become format errors, not bad pages."""

from __future__ import annotations

from typing import BinaryIO

from litestream_core.errors import LTXFormatError


def read_exact(src: BinaryIO, n: int, what: str) -> bytes:
    """Read exactly ``n`` bytes (looping over short reads) or raise: the file is truncated."""
    data = src.read(n)
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        chunk = src.read(n - got)
        if not chunk:
            raise LTXFormatError(f"LTX file truncated in {what}: {got} of {n} bytes")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_upto(src: BinaryIO, n: int, prefix: bytes = b"") -> bytes:
    """``prefix`` and up to ``n`` bytes read after it, stopping early only at end of file
    (joined once: the tail of a large LTX file holds a page index of megabytes)."""
    parts = [prefix]
    got = 0
    while got < n:
        chunk = src.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
