"""litestream-zstd: Zstandard compression of LTX pages (``compression: zstd``)."""
