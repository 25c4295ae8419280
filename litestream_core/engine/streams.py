"""Moving LTX bytes between local files and a ReplicaClient without holding them whole.

LTX files can be as large as the database, so uploads read the local file in chunks and
large downloads go to disk; only small files are ever held whole. A download that breaks
part-way resumes at the offset it reached with a range read, as Go does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from litestream_core.client import Capability, LTXData, LTXFileInfo, ReplicaClient
from litestream_core.engine.retry import Backoff
from litestream_core.errors import ReplicaClientError, TransientReplicaError
from litestream_core.ltx import HEADER_SIZE, TRAILER_SIZE, Header, Trailer

CHUNK = 1 << 20
SMALL_FILE = 4 << 20
"""Files up to this size are uploaded as one bytes object: fewer round trips."""


async def local_file_data(path: Path) -> LTXData:
    """What ``write_ltx_file`` takes for a local file: bytes if small, else chunks."""
    size = (await asyncio.to_thread(path.stat)).st_size
    if size <= SMALL_FILE:
        return await asyncio.to_thread(path.read_bytes)
    return _chunks(path)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


@runtime_checkable
class LocalReplica(Protocol):
    """A backend whose LTX files are plain local files (``Capability.LOCAL_FILESYSTEM``).

    Restore reads these directly from a worker thread: going through the event loop
    for every open and read costs far more than the read itself when a replica holds
    thousands of small files.
    """

    def file_path(self, level: int, min_txid: int, max_txid: int) -> Path: ...


def as_local_replica(client: ReplicaClient) -> LocalReplica | None:
    """The client as a LocalReplica if its backend declared ``LOCAL_FILESYSTEM`` when it
    registered, else None. The core stamps that on the clients it builds, so a client
    wrapping another (whose reads decrypt, say) is never read around."""
    if Capability.LOCAL_FILESYSTEM in client.capabilities and isinstance(client, LocalReplica):
        return client
    return None


@runtime_checkable
class DirectWriter(Protocol):
    """A backend that can store a small file from the worker thread that wrote it
    locally (a ``LOCAL_FILESYSTEM`` backend: storing is a local write, an fsync and a
    rename). The database monitor then syncs and uploads one commit in one thread
    hand-off (``engine.direct``), instead of crossing the event loop between them."""

    def write_ltx_file_now(
        self, level: int, min_txid: int, max_txid: int, data: bytes
    ) -> LTXFileInfo: ...


def as_direct_writer(client: ReplicaClient) -> DirectWriter | None:
    """The client as a DirectWriter under the same rule as ``as_local_replica``: only
    a client built for a backend that declared ``LOCAL_FILESYSTEM`` (a wrapper that
    encrypts is not written around)."""
    if Capability.LOCAL_FILESYSTEM in client.capabilities and isinstance(client, DirectWriter):
        return client
    return None


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

    async def write(chunk: bytes) -> None:
        await asyncio.to_thread(out.write, chunk)

    return await stream_to(client, info, write, attempts=attempts, backoff=backoff)


async def stream_to(
    client: ReplicaClient,
    info: LTXFileInfo,
    write: Callable[[bytes], Awaitable[None]],
    *,
    attempts: int = 4,
    backoff: Backoff | None = None,
) -> int:
    """Hand a remote LTX file to ``write`` in chunks of up to CHUNK bytes, resuming
    like ``download``; returns the bytes handed over."""
    return await _transfer(client, info, write, CHUNK, attempts, backoff)


async def fetch_bytes(
    client: ReplicaClient,
    info: LTXFileInfo,
    *,
    attempts: int = 4,
    backoff: Backoff | None = None,
) -> bytes:
    """A small remote LTX file, whole, resuming like ``download``.

    Reads stop at the listed size: a stored file longer than listed then fails to
    decode (a truncated LTX file), so nothing unverified is ever used.
    """
    parts: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        parts.append(chunk)

    await _transfer(client, info, keep, 0 if info.size else CHUNK, attempts, backoff)
    return b"".join(parts)


async def _transfer(
    client: ReplicaClient,
    info: LTXFileInfo,
    write: Callable[[bytes], Awaitable[None]],
    chunk_size: int,
    attempts: int,
    backoff: Backoff | None,
) -> int:
    """Stream a file into ``write``; ``chunk_size`` 0 reads up to the listed size at once."""
    policy = backoff or Backoff(initial=0.25, maximum=4.0)
    written, failures = 0, 0
    while True:
        try:
            stream = await client.open_ltx_file(
                info.level, info.min_txid, info.max_txid, offset=written
            )
            async with stream:
                while not chunk_size and written < info.size:
                    if not (chunk := await stream.read(info.size - written)):
                        break
                    await write(chunk)
                    written += len(chunk)
                while chunk_size and (chunk := await stream.read(chunk_size)):
                    await write(chunk)
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
    """The trailer of a remote file (its post-apply checksum), after checking with a
    first small range read that the file starts with an LTX header: an age-encrypted
    replica read without its keys fails here, before anything is written to it."""
    if info.size < HEADER_SIZE + TRAILER_SIZE:
        raise ReplicaClientError(
            f"remote LTX file {info.name} at level {info.level} is too small ({info.size} bytes)",
            op="read", level=info.level, min_txid=info.min_txid, max_txid=info.max_txid,
        )  # fmt: skip
    Header.decode(await _read_range(client, info, 0, HEADER_SIZE))
    return Trailer.decode(await _read_range(client, info, info.size - TRAILER_SIZE, TRAILER_SIZE))


async def _read_range(client: ReplicaClient, info: LTXFileInfo, offset: int, size: int) -> bytes:
    stream = await client.open_ltx_file(
        info.level, info.min_txid, info.max_txid, offset=offset, size=size
    )
    async with stream:
        return await stream.readall()
