"""Moving LTX bytes between local files and a ReplicaClient without holding them whole.

LTX files can be as large as the database, so uploads read the local file in chunks
and downloads spool to disk. A download that breaks part-way resumes at the offset it
reached with a range read, as Go does, instead of starting over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from litestream_core.client import LTXData, LTXFileInfo, ReplicaClient
from litestream_core.engine.retry import Backoff
from litestream_core.errors import ReplicaClientError, TransientReplicaError
from litestream_core.ltx import TRAILER_SIZE, Trailer

CHUNK = 1 << 20
_SMALL_FILE = 4 << 20
"""Files up to this size are uploaded as one bytes object: fewer round trips."""


async def local_file_data(path: Path) -> LTXData:
    """What ``write_ltx_file`` takes for a local file: bytes if small, else chunks."""
    size = (await asyncio.to_thread(path.stat)).st_size
    if size <= _SMALL_FILE:
        return await asyncio.to_thread(path.read_bytes)
    return _chunks(path)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


async def download(
    client: ReplicaClient,
    info: LTXFileInfo,
    out: BinaryIO,
    *,
    attempts: int = 4,
    backoff: Backoff | None = None,
) -> int:
    """Copy a remote LTX file into ``out`` (positioned at its start); returns bytes written.

    A transient error or a stream that ends early is retried from the offset reached
    (``attempts`` in all, 250 ms doubling); what was already written is kept.
    """
    policy = backoff or Backoff(initial=0.25, maximum=4.0)
    written, failures = 0, 0
    while True:
        try:
            stream = await client.open_ltx_file(
                info.level, info.min_txid, info.max_txid, offset=written
            )
            async with stream:
                while chunk := await stream.read(CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                    written += len(chunk)
            if info.size and written < info.size:
                raise TransientReplicaError(
                    f"download of {info.name} ended early at byte {written} of {info.size}",
                    op="read", level=info.level, min_txid=info.min_txid, max_txid=info.max_txid,
                )  # fmt: skip
            return written
        except (TransientReplicaError, ConnectionError, asyncio.IncompleteReadError):
            failures += 1
            if failures >= attempts:
                raise
            await asyncio.sleep(policy.delay(failures))


async def read_remote_trailer(client: ReplicaClient, info: LTXFileInfo) -> Trailer:
    """The trailer of a remote file (its post-apply checksum), with one small range read."""
    if info.size < TRAILER_SIZE:
        raise ReplicaClientError(
            f"remote LTX file {info.name} at level {info.level} is too small ({info.size} bytes)",
            op="read", level=info.level, min_txid=info.min_txid, max_txid=info.max_txid,
        )  # fmt: skip
    stream = await client.open_ltx_file(
        info.level, info.min_txid, info.max_txid, offset=info.size - TRAILER_SIZE,
        size=TRAILER_SIZE,
    )  # fmt: skip
    async with stream:
        data = await stream.readall()
    return Trailer.decode(data[-TRAILER_SIZE:])
