"""Large files: well past every SDK's chunk and part size, streamed both ways.

Small files fit in one network read and one upload request, so they cannot show a
stream that ends after its first chunk, a ranged read that only seeks inside the first
buffer, or a multipart upload that leaves parts visible. These tests use files of
``large_file_size`` bytes (3 x 8 MiB + 1 by default: one byte past three 8 MiB parts,
and past S3's 5 MiB and Azure's 4 MiB blocks), so each one moves tens of MiB; there are
only a few of them, to keep a backend's run short.
"""

from __future__ import annotations

import functools

from litestream_core.client import Capability, ReplicaClient
from litestream_core.testing.ltxgen import make_ltx_of_size
from litestream_core.testing.suite._base import (
    SuiteBase,
    broken,
    byte_difference,
    listed,
    ltx,
    read,
)
from litestream_core.testing.suite.write import assert_absent, chunked, write_cancelled_at

MiB = 1 << 20
WRITE_CHUNKS = (MiB + 7, 64 * 1024 - 3, 5 * MiB)
"""Chunk sizes of a streamed upload: odd, so no part boundary lines up with a chunk."""


@functools.cache
def large_ltx(size: int, min_txid: int, max_txid: int, seed: int) -> bytes:
    """Made once per session: building 24 MiB of LTX takes about a second."""
    return make_ltx_of_size(size, min_txid, max_txid, seed=seed)


async def stream_through(client: ReplicaClient, key: tuple[int, int, int], chunk: int) -> bytes:
    """Read a whole file with ``read(chunk)`` calls, checking each call's promise."""
    stream = await client.open_ltx_file(*key)
    parts: list[bytes] = []
    async with stream:
        while piece := await stream.read(chunk):
            assert len(piece) <= chunk, broken(
                f"read({chunk}) returns at most {chunk} bytes", f"{len(piece)} bytes"
            )
            parts.append(piece)
    return b"".join(parts)


class LargeFileTests(SuiteBase):
    async def test_large_file_streams_through_and_reads_ranges_deep_inside(
        self, replica_client: ReplicaClient
    ) -> None:
        size = self.large_file_size
        data = large_ltx(size, 3, 9, 1)
        key = (1, 3, 9)
        info = await replica_client.write_ltx_file(*key, chunked(data, WRITE_CHUNKS))
        assert info.size == size, broken(
            "write_ltx_file returns the size of the whole file", f"size {info.size} for {size}"
        )
        sizes = [i.size for i in await listed(replica_client, 1)]
        assert sizes == [size], broken("a listing gives each file's whole size", sizes)

        # Smaller than any SDK's network chunk, and larger than any: both read it through.
        for chunk in (64 * 1024 + 1, 5 * MiB + 3):
            got = await stream_through(replica_client, key, chunk)
            assert got == data, broken(
                f"a stream read with read({chunk}) yields the whole file, then b''",
                byte_difference(got, data),
            )
        got = await read(replica_client, *key)
        assert got == data, broken("readall() returns the whole file", byte_difference(got, data))

        # Ranges at and across part boundaries, deep inside, and at the very end.
        ranges = [
            (8 * MiB - 1, 2),
            (8 * MiB, 4096),
            (5 * MiB - 10, 20),
            (12_345_678, 3 * MiB),
            (16 * MiB + 5, MiB),
            (size - 100, 100),
            (size - 1, 1),
            (20 * MiB + 3, 0),
            (size - 10, 1000),
        ]
        if not self.declares(replica_client, Capability.RANGE_READS):
            # Each ranged read costs the bytes before it here: a few deep ones will do.
            ranges = [ranges[1], ranges[4], ranges[7], ranges[8]]
        for offset, length in ranges:
            got = await read(replica_client, *key, offset=offset, size=length)
            expected = data[offset : offset + length] if length else data[offset:]
            assert got == expected, broken(
                f"a ranged read returns the file's bytes from offset {offset} "
                f"({length or 'to the end'} bytes, cut at the end of the file)",
                byte_difference(got, expected, whole=data),
            )

    async def test_large_file_read_after_rewrite(self, replica_client: ReplicaClient) -> None:
        key = (2, 3, 9)
        old = large_ltx(self.large_file_size, 3, 9, 2)
        new = large_ltx(self.large_file_size - 8 * MiB + 2, 3, 9, 3)
        await replica_client.write_ltx_file(*key, old)
        offset = 9 * MiB + 1
        warm = await read(replica_client, *key, offset=offset, size=4096)
        assert warm == old[offset : offset + 4096], broken(
            "a ranged read returns the file's bytes at its offset",
            byte_difference(warm, old[offset : offset + 4096], whole=old),
        )
        info = await replica_client.write_ltx_file(*key, chunked(new, WRITE_CHUNKS))
        assert info.size == len(new)
        sizes = [i.size for i in await listed(replica_client, 2)]
        assert sizes == [len(new)], broken(
            "after a rewrite, listings give the new file's size",
            f"sizes {sizes}; old size {len(old)}, new size {len(new)}",
        )
        got = await stream_through(replica_client, key, MiB)
        assert got == new, broken(
            "after a rewrite, reads return the new file",
            byte_difference(got, new) + ("; that is the old file" if got == old else ""),
        )
        got = await read(replica_client, *key, offset=offset, size=4096)
        assert got == new[offset : offset + 4096], broken(
            "after a rewrite, ranged reads return the new file's bytes",
            byte_difference(got, new[offset : offset + 4096], whole=new)
            + ("; they are the old file's" if got == old[offset : offset + 4096] else ""),
        )

    async def test_large_write_cancelled_at_any_point_leaves_nothing(
        self, replica_client: ReplicaClient
    ) -> None:
        data = large_ltx(self.large_file_size, 3, 9, 4)
        # After the header; past the first 8 MiB part; everything sent but the end.
        points = (100, 9 * MiB + 1, len(data))
        for point in points:
            await write_cancelled_at(replica_client, (0, 3, 9), data, point)
            await assert_absent(
                replica_client, 0, 3, 9, f"a write cancelled after {point} of {len(data)} bytes"
            )
        old = ltx(3, 9, pages=2)
        await replica_client.write_ltx_file(1, 3, 9, old)
        await write_cancelled_at(replica_client, (1, 3, 9), data, len(data))
        sizes = [i.size for i in await listed(replica_client, 1)]
        assert sizes == [len(old)], broken(
            "a cancelled rewrite keeps the previous file", f"listed sizes {sizes}, old {len(old)}"
        )
        got = await read(replica_client, 1, 3, 9)
        assert got == old, broken(
            "a cancelled rewrite keeps the previous file", byte_difference(got, old)
        )
