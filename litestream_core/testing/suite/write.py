"""Writing: returned info, kept timestamps, input forms, replacement, atomicity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from litestream_core.client import Capability, ReplicaClient
from litestream_core.engine.identity import (
    IDENTITY_LEVEL,
    new_identity,
    read_identity,
    write_identity,
)
from litestream_core.errors import LTXFormatError, LTXNotFoundError
from litestream_core.testing.suite._base import (
    SuiteBase,
    assert_plausible_time,
    broken,
    byte_difference,
    header_time,
    keys,
    listed,
    ltx,
    read,
)


class SourceFailed(Exception):
    """Raised by a test's data source halfway through a write."""


async def chunked(data: bytes, sizes: tuple[int, ...]) -> AsyncIterator[bytes]:
    """Yield ``data`` in pieces of the given sizes (cycled), including an empty piece."""
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos, i = pos + size, i + 1
        await anyio.sleep(0)


async def failing_halfway(data: bytes) -> AsyncIterator[bytes]:
    half = len(data) // 2
    yield data[:100]
    await anyio.sleep(0)
    yield data[100:half]
    raise SourceFailed("source broke halfway")


def caused_by(exc: BaseException, cls: type[BaseException]) -> bool:
    """Whether ``exc`` is ``cls`` or wraps it (as cause, context or in a group)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, cls):
            return True
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
    return False


async def assert_absent(
    client: ReplicaClient, level: int, lo: int, hi: int, what: str = "a failed write"
) -> None:
    """Neither listings nor reads show the file: ``what`` left nothing visible."""
    promise = f"{what} leaves nothing visible"
    for use_metadata in (False, True):
        found = keys(await listed(client, level, use_metadata=use_metadata))
        assert (level, lo, hi) not in found, broken(
            promise, f"listed (use_metadata={use_metadata}): {found}"
        )
    try:
        stream = await client.open_ltx_file(level, lo, hi)
    except LTXNotFoundError:
        return
    async with stream:
        seen = len(await stream.readall())
    pytest.fail(broken(promise, f"open_ltx_file found it, {seen} bytes"))


class _StallingSource:
    """Chunks of ``data`` up to ``point``; then, asked for more, it signals and hangs.

    Being asked for the next chunk shows that the backend has taken everything before
    ``point``, so a cancellation then lands with that much of the file in flight (for
    ``point == len(data)``: all of it, with only the end of the stream missing).
    """

    def __init__(self, data: bytes, point: int) -> None:
        self.data, self.point = data, point
        self.reached = anyio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        pos = 0
        while pos < self.point:
            end = min(self.point, pos + (1 << 20))
            yield self.data[pos:end]
            pos = end
        self.reached.set()
        await anyio.sleep_forever()
        yield b""  # pragma: no cover - never reached


async def write_cancelled_at(
    client: ReplicaClient, key: tuple[int, int, int], data: bytes, point: int
) -> None:
    """Start writing ``data``, and cancel the write once ``point`` bytes were taken."""
    source = _StallingSource(data, point)
    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:

            async def write() -> None:
                await client.write_ltx_file(*key, source.chunks())

            tg.start_soon(write)
            await source.reached.wait()
            for _ in range(10):  # let the backend act on what it has before cancelling
                await anyio.sleep(0)
            tg.cancel_scope.cancel()


class WriteTests(SuiteBase):
    async def test_replica_identity_is_kept_apart_from_the_levels(
        self, replica_client: ReplicaClient
    ) -> None:
        """The core writes a replica's identity as an LTX file at level 10 (above Go's
        snapshot level 9); a backend must store, replace and read it like any file,
        and never list it among levels 0-9."""
        assert await read_identity(replica_client) is None
        first = new_identity(Path("/data/a.db"), None)
        await write_identity(replica_client, first)
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        assert await read_identity(replica_client) == first
        second = new_identity(Path("/data/b.db"), None, previous=first.describe())
        await write_identity(replica_client, second)
        assert await read_identity(replica_client) == second
        for level in range(IDENTITY_LEVEL):
            assert all(i.level == level for i in await listed(replica_client, level))
        assert keys(await listed(replica_client, 0)) == [(0, 1, 1)]

    async def test_write_returns_info_matching_listing(self, replica_client: ReplicaClient) -> None:
        data = ltx(5, 8, pages=3)
        info = await replica_client.write_ltx_file(2, 5, 8, data)
        assert (info.level, info.min_txid, info.max_txid, info.size) == (2, 5, 8, len(data))
        (plain,) = await listed(replica_client, 2)
        (meta,) = await listed(replica_client, 2, use_metadata=True)
        for entry in (plain, meta):
            assert (entry.level, entry.min_txid, entry.max_txid, entry.size) == (
                info.level,
                info.min_txid,
                info.max_txid,
                info.size,
            )
        if self.declares(replica_client, Capability.ACCURATE_METADATA_TIMESTAMPS):
            assert meta == info

    async def test_write_info_has_header_timestamp(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 1, timestamp_ms=1_234_567_890_987)
        info = await replica_client.write_ltx_file(0, 1, 1, data)
        assert (
            info.created_at
            == header_time(data)
            == datetime(2009, 2, 13, 23, 31, 30, 987_000, tzinfo=UTC)
        )

    async def test_write_keeps_header_timestamp_in_metadata_listing(
        self, replica_client: ReplicaClient
    ) -> None:
        """Point-in-time restore picks files by these times (Go issue #771)."""
        written_at = datetime.now(UTC)
        stamps = {(1, 1): 1_500_000_000_001, (2, 2): 1_600_000_000_999, (3, 3): 1_700_000_000_500}
        files = {k: ltx(*k, timestamp_ms=ts) for k, ts in stamps.items()}
        for (lo, hi), data in files.items():
            await replica_client.write_ltx_file(0, lo, hi, data)
        accurate = self.declares(replica_client, Capability.ACCURATE_METADATA_TIMESTAMPS)
        for info in await listed(replica_client, 0, use_metadata=True):
            data = files[(info.min_txid, info.max_txid)]
            if accurate:
                assert info.created_at == header_time(data), broken(
                    "metadata listings give the header's timestamp exactly "
                    "(the backend claims ACCURATE_METADATA_TIMESTAMPS)",
                    f"{info.created_at} for header time {header_time(data)}",
                )
            else:
                assert_plausible_time(info.created_at, data, written_at)

    async def test_write_accepts_bytes(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 4, pages=2)
        await replica_client.write_ltx_file(0, 1, 4, data)
        assert await read(replica_client, 0, 1, 4) == data

    async def test_write_accepts_async_iterable(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 4, pages=3)
        # The first pieces are shorter than the header, which backends must peek at.
        info = await replica_client.write_ltx_file(0, 1, 4, chunked(data, (1, 0, 37, 4096, 13)))
        assert info.size == len(data), broken("write returns the file's size", info.size)
        assert info.created_at == header_time(data), broken(
            "write returns the LTX header's timestamp as created_at",
            f"{info.created_at}, header {header_time(data)}",
        )
        got = await read(replica_client, 0, 1, 4)
        assert got == data, broken(
            "a file written from chunks reads back whole", byte_difference(got, data)
        )

    async def test_rewrite_replaces_file(self, replica_client: ReplicaClient) -> None:
        old = ltx(2, 3, pages=1, timestamp_ms=1_600_000_000_000)
        new = ltx(2, 3, pages=4, timestamp_ms=1_600_000_111_000)
        await replica_client.write_ltx_file(0, 2, 3, old)
        info = await replica_client.write_ltx_file(0, 2, 3, new)
        infos = await listed(replica_client, 0, use_metadata=True)
        assert keys(infos) == [(0, 2, 3)], broken("a rewrite keeps one file", keys(infos))
        assert infos[0].size == info.size == len(new), broken(
            "after a rewrite, write and listings give the new size",
            f"listed {infos[0].size}, returned {info.size}, old {len(old)}, new {len(new)}",
        )
        if self.declares(replica_client, Capability.ACCURATE_METADATA_TIMESTAMPS):
            assert infos[0].created_at == header_time(new), broken(
                "after a rewrite, metadata listings give the new header's timestamp",
                f"{infos[0].created_at}; old {header_time(old)}, new {header_time(new)}",
            )
        got = await read(replica_client, 0, 2, 3)
        assert got == new, broken(
            "after a rewrite, reads return the new file", byte_difference(got, new)
        )

    async def test_failed_write_leaves_nothing(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 2, pages=4)
        with pytest.raises(BaseException) as info:
            await replica_client.write_ltx_file(0, 1, 2, failing_halfway(data))
        assert caused_by(info.value, SourceFailed), f"unexpected error {info.value!r}"
        await assert_absent(replica_client, 0, 1, 2)

    async def test_failed_rewrite_keeps_previous_file(self, replica_client: ReplicaClient) -> None:
        old = ltx(1, 2, pages=1)
        await replica_client.write_ltx_file(0, 1, 2, old)
        with pytest.raises(BaseException) as info:
            await replica_client.write_ltx_file(0, 1, 2, failing_halfway(ltx(1, 2, pages=4)))
        assert caused_by(info.value, SourceFailed), f"unexpected error {info.value!r}"
        sizes = [i.size for i in await listed(replica_client, 0)]
        assert sizes == [len(old)], broken(
            "a failed rewrite keeps the previous file", f"listed sizes {sizes}, old {len(old)}"
        )
        got = await read(replica_client, 0, 1, 2)
        assert got == old, broken(
            "a failed rewrite keeps the previous file", byte_difference(got, old)
        )

    async def test_cancelled_write_leaves_nothing(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 2, pages=4)
        # Before any byte, inside the header, after it, halfway, everything but the end.
        for point in (0, 50, 100, len(data) // 2, len(data)):
            await write_cancelled_at(replica_client, (0, 1, 2), data, point)
            await assert_absent(
                replica_client, 0, 1, 2, f"a write cancelled after {point} of {len(data)} bytes"
            )

    async def test_write_rejects_data_without_ltx_header(
        self, replica_client: ReplicaClient
    ) -> None:
        for bad in (b"", b"not an LTX file" * 20, ltx(1, 2)[:50]):
            with pytest.raises(LTXFormatError):
                await replica_client.write_ltx_file(0, 1, 2, bad)
        await assert_absent(replica_client, 0, 1, 2)
