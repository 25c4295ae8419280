"""Registers the ``lz4`` codec that LTX page frames are written with."""

from __future__ import annotations

from litestream_core.compression import LZ4BlockCompressor
from litestream_core.hookspecs import CompressorRegistrar, hookimpl


@hookimpl
def litestream_register_compressors(register: CompressorRegistrar) -> None:
    register("lz4", LZ4BlockCompressor())
