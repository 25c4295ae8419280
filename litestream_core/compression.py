"""Compression codecs: the protocol plugins implement, LZ4 blocks, and the page codecs.

LTX pages are compressed one page at a time. Go writes (and only reads) raw LZ4 blocks;
a plugin may register another codec (``litestream-zstd``), which a replica then uses
when its config says ``compression: <name>``. Such a file names its codec in its header
(``HEADER_FLAG_PAGE_CODEC``), so every reader picks the right one and Go refuses the
file instead of misreading it. A plugin may also register a faster implementation of
``lz4`` itself (``override=True``): the bytes stay Go's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from litestream_core.errors import LTXFormatError

_LZ4_MAX_RATIO = 255
"""LZ4 cannot expand a block more than this, which bounds a size-less decompression."""

GO_CODEC = "lz4"
"""The only page codec Go Litestream reads."""

FIRST_PARTY_CODECS: Mapping[str, str] = {"zstd": "litestream-zstd"}
"""Codec -> the distribution that provides it, for the "install this" hint."""


@runtime_checkable
class Compressor(Protocol):
    """A named codec that compresses whole byte strings."""

    @property
    def name(self) -> str:
        """The name plugins register it under, such as ``lz4``; an LTX header records it
        (at most 20 characters of ``[a-z0-9._-]``)."""
        ...

    def compress(self, data: bytes) -> bytes:
        """The compressed form of ``data``; called from worker threads concurrently."""
        ...

    def decompress(self, data: bytes, max_size: int | None = None) -> bytes:
        """The original bytes; ``max_size`` bounds the output when the caller knows it.

        Formats that do not record their decompressed size (raw LZ4 blocks) need the
        bound to decompress in one step; without it they must search for one. Any
        exception means corrupt input.
        """
        ...


class LZ4BlockCompressor:
    """Raw LZ4 blocks without a size prefix, exactly as LTX page frames hold them."""

    name = GO_CODEC

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


class CodecUnavailableError(LTXFormatError):
    """An LTX file's pages use a codec no installed plugin provides."""


def _builtin_table() -> dict[str, Compressor]:
    return {GO_CODEC: LZ4BlockCompressor()}


@dataclass(frozen=True)
class PageCodecs:
    """The codecs LTX pages can be read with (by the name a header records), and the
    one new files are written with. Built from a plugin manager by
    ``litestream_core.plugins.page_codecs``; the default knows only LZ4."""

    table: Mapping[str, Compressor] = field(default_factory=_builtin_table)
    write_name: str = GO_CODEC

    def __post_init__(self) -> None:
        self.get(self.write_name)

    @property
    def write(self) -> Compressor:
        """The codec new LTX files are written with."""
        return self.get(self.write_name)

    def get(self, name: str) -> Compressor:
        """The codec called ``name``.

        :raises CodecUnavailableError: none is installed; the message says what to install.
        """
        codec = self.table.get(name)
        if codec is None:
            dist = FIRST_PARTY_CODECS.get(name)
            installed = ", ".join(sorted(self.table)) or "none"
            raise CodecUnavailableError(
                f"LTX page codec {name!r} is not installed (installed: {installed})",
                hint=f"pip install {dist}" if dist else None,
            )
        return codec

    def writing(self, name: str) -> PageCodecs:
        """The same table, writing with ``name``."""
        return PageCodecs(self.table, name)


BUILTIN_CODECS = PageCodecs()
"""LZ4 only: what readers use when no plugin manager is at hand (Go's files)."""
