"""Entry point of litestream-zstd: registers the ``zstd`` codec; zstandard loads on first use."""

from __future__ import annotations

from litestream_core.hookspecs import CompressorRegistrar, hookimpl


@hookimpl
def litestream_register_compressors(register: CompressorRegistrar) -> None:
    from litestream_zstd.codec import ZstdCompressor

    register("zstd", ZstdCompressor())
