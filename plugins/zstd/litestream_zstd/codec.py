"""One Zstandard frame per LTX page.

Pages are compressed one at a time (the LTX page index must address each), so there is
no cross-page window; zstd still beats LZ4 on size, at some CPU cost (see ``bench/``).
Each frame records its content size, so decompression needs no bound, and its
checksum is left out: the LTX file checksum already covers the decompressed pages.
zstandard's compressor objects are not thread-safe, and pages are compressed from
worker threads, so each thread keeps its own.
"""

from __future__ import annotations

import threading
from typing import Any

LEVEL = 3
"""zstd's own default: most of the size gain over LZ4 for a fraction of level 19's CPU."""


class ZstdCompressor:
    name = "zstd"

    def __init__(self, level: int = LEVEL) -> None:
        self.level = level
        self._local = threading.local()

    def _codecs(self) -> tuple[Any, Any]:
        pair: tuple[Any, Any] | None = getattr(self._local, "pair", None)
        if pair is None:
            import zstandard

            pair = (
                zstandard.ZstdCompressor(level=self.level, write_checksum=False),
                zstandard.ZstdDecompressor(),
            )
            self._local.pair = pair
        return pair

    def compress(self, data: bytes) -> bytes:
        out: bytes = self._codecs()[0].compress(data)
        return out

    def decompress(self, data: bytes, max_size: int | None = None) -> bytes:
        out: bytes = self._codecs()[1].decompress(data, max_output_size=max_size or 0)
        if max_size is not None and len(out) > max_size:
            raise ValueError(f"zstd frame holds {len(out)} bytes, more than {max_size}")
        return out
