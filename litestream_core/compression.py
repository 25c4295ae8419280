"""Compression codecs, and the LZ4 block codec that LTX page frames use.

LTX fixes its page codec (one raw LZ4 block per page), so codecs registered by plugins
can offer faster implementations or serve other uses; they never change LTX bytes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from litestream_core.errors import LTXFormatError

_LZ4_MAX_RATIO = 255
"""LZ4 cannot expand a block more than this, which bounds a size-less decompression."""


@runtime_checkable
class Compressor(Protocol):
    """A named codec that compresses whole byte strings."""

    @property
    def name(self) -> str:
        """The name plugins register it under, such as ``lz4``."""
        ...

    def compress(self, data: bytes) -> bytes:
        """The compressed form of ``data``."""
        ...

    def decompress(self, data: bytes, max_size: int | None = None) -> bytes:
        """The original bytes; ``max_size`` bounds the output when the caller knows it.

        Formats that do not record their decompressed size (raw LZ4 blocks) need the
        bound to decompress in one step; without it they must search for one.
        """
        ...


class LZ4BlockCompressor:
    """Raw LZ4 blocks without a size prefix, exactly as LTX page frames hold them."""

    name = "lz4"

    def compress(self, data: bytes) -> bytes:
        import lz4.block

        compressed: bytes = lz4.block.compress(data, store_size=False)
        return compressed

    def decompress(self, data: bytes, max_size: int | None = None) -> bytes:
        import lz4.block

        if not data:
            return b""
        limit = len(data) * _LZ4_MAX_RATIO + 64
        size = max_size if max_size is not None else min(limit, max(4096, len(data) * 4))
        while True:
            try:
                out: bytes = lz4.block.decompress(data, uncompressed_size=size)
                return out
            except lz4.block.LZ4BlockError as exc:
                # Corrupt input and a too-small buffer look the same: grow until the
                # bound LZ4's format guarantees, then call it corrupt.
                if max_size is not None or size >= limit:
                    raise LTXFormatError(f"corrupt LZ4 block of {len(data)} bytes") from exc
                size = min(limit, size * 4)
