"""Reading: whole files, byte ranges, streaming, and the not-found contract."""

from __future__ import annotations

import pytest

from litestream_core.client import ReplicaClient
from litestream_core.errors import LTXNotFoundError
from litestream_core.testing.suite._base import (
    SuiteBase,
    broken,
    byte_difference,
    listed,
    ltx,
    read,
)


class ReadTests(SuiteBase):
    async def test_read_whole_file(self, replica_client: ReplicaClient) -> None:
        data = ltx(3, 7, pages=4)
        await replica_client.write_ltx_file(0, 3, 7, data)
        assert await read(replica_client, 0, 3, 7) == data

    async def test_read_in_small_chunks(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 1, pages=3)
        await replica_client.write_ltx_file(0, 1, 1, data)
        stream = await replica_client.open_ltx_file(0, 1, 1)
        chunks = []
        async with stream:
            while chunk := await stream.read(7):
                assert len(chunk) <= 7
                chunks.append(chunk)
            assert await stream.read(7) == b""
        assert b"".join(chunks) == data

    async def test_read_from_offset(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 2, pages=3)
        await replica_client.write_ltx_file(0, 1, 2, data)
        for offset in (1, 100, len(data) - 16, len(data) - 1):
            got = await read(replica_client, 0, 1, 2, offset=offset)
            assert got == data[offset:], broken(
                f"a read from offset {offset} returns the rest of the file",
                byte_difference(got, data[offset:], whole=data),
            )

    async def test_read_size(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 2, pages=3)
        await replica_client.write_ltx_file(0, 1, 2, data)
        for size in (1, 100, len(data)):
            assert await read(replica_client, 0, 1, 2, size=size) == data[:size]

    async def test_read_offset_and_size(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 2, pages=3)
        await replica_client.write_ltx_file(0, 1, 2, data)
        for offset, size in ((1, 1), (100, 6), (50, 200), (len(data) - 16, 16)):
            got = await read(replica_client, 0, 1, 2, offset=offset, size=size)
            assert got == data[offset : offset + size], broken(
                f"a ranged read returns {size} bytes from offset {offset}",
                byte_difference(got, data[offset : offset + size], whole=data),
            )

    async def test_read_range_past_end_is_truncated(self, replica_client: ReplicaClient) -> None:
        data = ltx(1, 2)
        await replica_client.write_ltx_file(0, 1, 2, data)
        got = await read(replica_client, 0, 1, 2, offset=len(data) - 10, size=100)
        assert got == data[-10:]

    async def test_read_after_rewrite_returns_new_file(self, replica_client: ReplicaClient) -> None:
        """Nothing a client remembers from reading a file outlives a rewrite of it."""
        old = ltx(4, 6, pages=4, timestamp_ms=1_600_000_000_000)
        new = ltx(4, 6, pages=2, timestamp_ms=1_600_000_222_000)
        await replica_client.write_ltx_file(0, 4, 6, old)
        assert await read(replica_client, 0, 4, 6) == old
        assert await read(replica_client, 0, 4, 6, offset=200, size=50) == old[200:250]
        await replica_client.write_ltx_file(0, 4, 6, new)
        checks = [
            ("whole", await read(replica_client, 0, 4, 6), new, old),
            (
                "range",
                await read(replica_client, 0, 4, 6, offset=200, size=50),
                new[200:250],
                old[200:250],
            ),
        ]
        for what, got, expected, stale in checks:
            assert got == expected, broken(
                f"after a rewrite, a {what} read returns the new file",
                "the old file's bytes" if got == stale else byte_difference(got, expected),
            )
        sizes = [i.size for i in await listed(replica_client, 0)]
        assert sizes == [len(new)], broken("after a rewrite, listings give the new size", sizes)

    async def test_read_missing_file_raises_not_found(self, replica_client: ReplicaClient) -> None:
        await replica_client.write_ltx_file(0, 1, 2, ltx(1, 2))
        # Missing level, missing range, and a range sharing only its min or max TXID.
        for level, lo, hi in ((1, 1, 2), (0, 3, 4), (0, 1, 3), (0, 2, 2)):
            with pytest.raises(LTXNotFoundError) as info:
                await replica_client.open_ltx_file(level, lo, hi)
            assert isinstance(info.value, FileNotFoundError)

    async def test_stream_close_is_idempotent(self, replica_client: ReplicaClient) -> None:
        await replica_client.write_ltx_file(0, 1, 2, ltx(1, 2))
        stream = await replica_client.open_ltx_file(0, 1, 2)
        assert len(await stream.read(10)) == 10
        await stream.aclose()
        await stream.aclose()
