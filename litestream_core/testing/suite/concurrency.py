"""Concurrency: one client serves many tasks at once without mixing them up."""

from __future__ import annotations

import asyncio

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaClient
from litestream_core.testing.suite._base import SuiteBase, keys, listed, ltx, read
from litestream_core.testing.suite.write import chunked


class ConcurrencyTests(SuiteBase):
    async def test_parallel_writes_lists_and_reads(self, replica_client: ReplicaClient) -> None:
        files = {
            (level, n, n + 1): ltx(n, n + 1, pages=n % 3 + 1)
            for level in (0, 1, SNAPSHOT_LEVEL)
            for n in range(1, 24, 2)
        }
        seeded = dict(list(files.items())[:3])
        for (level, lo, hi), data in seeded.items():
            await replica_client.write_ltx_file(level, lo, hi, data)

        writes = [
            replica_client.write_ltx_file(level, lo, hi, chunked(data, (500, 3000)))
            for (level, lo, hi), data in files.items()
            if (level, lo, hi) not in seeded
        ]
        lists = [
            listed(replica_client, level) for level in (0, 1, SNAPSHOT_LEVEL) for _ in range(3)
        ]
        reads = [read(replica_client, *key) for key in seeded for _ in range(3)]
        written, listings, contents = await asyncio.gather(
            asyncio.gather(*writes), asyncio.gather(*lists), asyncio.gather(*reads)
        )

        for info in written:
            key = (info.level, info.min_txid, info.max_txid)
            assert info.size == len(files[key])
        for infos in listings:
            assert keys(infos) == sorted(keys(infos))
            for info in infos:
                assert info.size == len(files[(info.level, info.min_txid, info.max_txid)])
        expected_reads = [files[key] for key in seeded for _ in range(3)]
        assert contents == expected_reads
        for level in (0, 1, SNAPSHOT_LEVEL):
            assert keys(await listed(replica_client, level)) == sorted(
                k for k in files if k[0] == level
            )
        for key, data in files.items():
            assert await read(replica_client, *key) == data

    async def test_parallel_rewrites_of_one_file_never_mix(
        self, replica_client: ReplicaClient
    ) -> None:
        versions = [ltx(1, 2, pages=p, timestamp_ms=1_600_000_000_000 + p) for p in (1, 2, 3, 4)]
        await asyncio.gather(
            *(replica_client.write_ltx_file(0, 1, 2, chunked(v, (700,))) for v in versions)
        )
        data = await read(replica_client, 0, 1, 2)
        assert data in versions
        assert [i.size for i in await listed(replica_client, 0)] == [len(data)]
