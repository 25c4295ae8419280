"""Collecting an LTX upload before it is sent, and reading its header on the way.

The whole file is gathered first (in memory up to a limit, then in a temporary file),
so a source that fails or is cancelled midway never leaves anything on the replica,
and a blocking SDK upload can run in one worker-thread call. Downloads can land in the
same kind of spool, which keeps memory bounded for big files.
"""

from __future__ import annotations

import io
import tempfile
from typing import IO

from litestream_core.backend_support.timestamps import upload_timestamp
from litestream_core.client import LTXData
from litestream_core.ltx.header import HEADER_SIZE

SPOOL_MEMORY_LIMIT = 8 << 20
"""Bytes kept in memory before the spool moves to a temporary file."""


def new_spool() -> IO[bytes]:
    """An empty spool: memory first, a temporary file past the limit; the caller closes it."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_LIMIT)


async def spool_ltx(data: LTXData) -> tuple[IO[bytes], int, int]:
    """The data as a readable file at offset 0, its LTX timestamp and its size.

    Raises LTXFormatError when the data does not start with an LTX header (or a sealed
    file's, see ``timestamps.upload_timestamp``).
    """
    if isinstance(data, bytes | bytearray | memoryview):
        content = bytes(data)
        return io.BytesIO(content), upload_timestamp(content[:HEADER_SIZE]), len(content)
    spool = new_spool()  # closed by the caller once uploaded, or below on failure
    try:
        size = 0
        async for chunk in data:
            spool.write(chunk)
            size += len(chunk)
        spool.seek(0)
        timestamp = upload_timestamp(spool.read(HEADER_SIZE))
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, timestamp, size
