"""LTX bytes to upload, read in parts, with the LTX header checked first.

A write takes either the whole file or an async iterable of chunks of any size; the
uploader wants fixed-size parts and the header's timestamp before it sends a byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from litestream_core.client import LTXData
from litestream_core.errors import LTXFormatError
from litestream_core.ltx.header import HEADER_SIZE, Header


class PartReader:
    """Hands out the data in parts of a requested size; only the last part is shorter."""

    def __init__(self, data: LTXData) -> None:
        self._whole: memoryview | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        if isinstance(data, bytes | bytearray | memoryview):
            self._whole = memoryview(data)
        else:
            self._chunks = aiter(data)
        self._buffer = bytearray()
        self._pos = 0

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only when the data ends."""
        if self._whole is not None:
            part = bytes(self._whole[self._pos : self._pos + n])
            self._pos += len(part)
            return part
        while len(self._buffer) < n and await self._pull():
            pass
        part = bytes(self._buffer[:n])
        del self._buffer[:n]
        return part

    async def at_end(self) -> bool:
        """True once every byte has been handed out."""
        if self._whole is not None:
            return self._pos >= len(self._whole)
        return not self._buffer and not await self._pull()

    async def _pull(self) -> bool:
        """Append the next chunk to the buffer; False once the source is exhausted."""
        assert self._chunks is not None
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self._chunks = _exhausted()
            return False
        self._buffer += chunk
        return True


async def _exhausted() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an (empty) async generator


def header_of(first_part: bytes) -> Header:
    """The validated LTX header at the start of the data, or LTXFormatError.

    Backends want ``timestamps.upload_timestamp`` instead: it also reads sealed files.
    """
    if len(first_part) < HEADER_SIZE:
        raise LTXFormatError(
            f"LTX data too short for a header: {len(first_part)} of {HEADER_SIZE} bytes"
        )
    header = Header.decode(first_part[:HEADER_SIZE])
    header.validate()
    return header
