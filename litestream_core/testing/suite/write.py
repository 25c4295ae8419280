"""Writing: returned info, kept timestamps, input forms, replacement, atomicity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import pytest

from litestream_core.client import Capability, ReplicaClient
from litestream_core.errors import LTXFormatError, LTXNotFoundError
from litestream_core.testing.suite._base import (
    SuiteBase,
    assert_plausible_time,
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


async def assert_absent(client: ReplicaClient, level: int, lo: int, hi: int) -> None:
    assert (level, lo, hi) not in keys(await listed(client, level))
    assert (level, lo, hi) not in keys(await listed(client, level, use_metadata=True))
    with pytest.raises(LTXNotFoundError):
        await client.open_ltx_file(level, lo, hi)


class WriteTests(SuiteBase):
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
                assert info.created_at == header_time(data)
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
        assert info.size == len(data)
        assert info.created_at == header_time(data)
        assert await read(replica_client, 0, 1, 4) == data

    async def test_rewrite_replaces_file(self, replica_client: ReplicaClient) -> None:
        old = ltx(2, 3, pages=1, timestamp_ms=1_600_000_000_000)
        new = ltx(2, 3, pages=4, timestamp_ms=1_600_000_111_000)
        await replica_client.write_ltx_file(0, 2, 3, old)
        info = await replica_client.write_ltx_file(0, 2, 3, new)
        infos = await listed(replica_client, 0, use_metadata=True)
        assert keys(infos) == [(0, 2, 3)]
        assert infos[0].size == info.size == len(new)
        if self.declares(replica_client, Capability.ACCURATE_METADATA_TIMESTAMPS):
            assert infos[0].created_at == header_time(new)
        assert await read(replica_client, 0, 2, 3) == new

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
        assert [i.size for i in await listed(replica_client, 0)] == [len(old)]
        assert await read(replica_client, 0, 1, 2) == old

    async def test_cancelled_write_leaves_nothing(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 2, pages=4)
        half_sent = anyio.Event()

        async def stalls_halfway() -> AsyncIterator[bytes]:
            yield data[: len(data) // 2]
            half_sent.set()
            await anyio.sleep_forever()
            yield b""  # pragma: no cover - never reached

        async with anyio.create_task_group() as tg:

            async def write() -> None:
                await replica_client.write_ltx_file(0, 1, 2, stalls_halfway())

            tg.start_soon(write)
            await half_sent.wait()
            # Give the backend a moment to act on the first half before cancelling.
            for _ in range(10):
                await anyio.sleep(0)
            tg.cancel_scope.cancel()
        await assert_absent(replica_client, 0, 1, 2)

    async def test_write_rejects_data_without_ltx_header(
        self, replica_client: ReplicaClient
    ) -> None:
        for bad in (b"", b"not an LTX file" * 20, ltx(1, 2)[:50]):
            with pytest.raises(LTXFormatError):
                await replica_client.write_ltx_file(0, 1, 2, bad)
        await assert_absent(replica_client, 0, 1, 2)
