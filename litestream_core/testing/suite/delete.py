"""Deleting: files vanish, missing files are ignored, delete_all is safe to repeat."""

from __future__ import annotations

import pytest

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaClient
from litestream_core.errors import LTXNotFoundError
from litestream_core.testing.suite._base import SuiteBase, file_ref, keys, listed, ltx, read


class DeleteTests(SuiteBase):
    async def test_deleted_files_vanish(self, replica_client: ReplicaClient) -> None:
        infos = [await replica_client.write_ltx_file(0, n, n, ltx(n, n)) for n in range(1, 6)]
        await replica_client.delete_ltx_files([infos[1], infos[3]])
        assert keys(await listed(replica_client, 0)) == [(0, 1, 1), (0, 3, 3), (0, 5, 5)]
        for gone in (2, 4):
            with pytest.raises(LTXNotFoundError):
                await replica_client.open_ltx_file(0, gone, gone)
        assert await read(replica_client, 0, 3, 3) == ltx(3, 3)

    async def test_delete_missing_files_is_noop(self, replica_client: ReplicaClient) -> None:
        kept = await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        gone = await replica_client.write_ltx_file(0, 2, 2, ltx(2, 2))
        await replica_client.delete_ltx_files([gone])
        await replica_client.delete_ltx_files([gone, file_ref(0, 7, 8), file_ref(3, 1, 1)])
        await replica_client.delete_ltx_files([])
        assert keys(await listed(replica_client, 0)) == [(kept.level, 1, 1)]

    async def test_delete_all_removes_every_level(self, replica_client: ReplicaClient) -> None:
        for level in (0, 1, SNAPSHOT_LEVEL):
            await replica_client.write_ltx_file(level, 1, 2, ltx(1, 2))
        await replica_client.delete_all()
        for level in (0, 1, SNAPSHOT_LEVEL):
            assert await listed(replica_client, level) == []
            with pytest.raises(LTXNotFoundError):
                await replica_client.open_ltx_file(level, 1, 2)

    async def test_delete_all_is_idempotent_and_works_on_empty_replica(
        self, replica_client: ReplicaClient
    ) -> None:
        await replica_client.delete_all()
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        await replica_client.delete_all()
        await replica_client.delete_all()
        assert await listed(replica_client, 0) == []

    async def test_client_usable_after_delete_all(self, replica_client: ReplicaClient) -> None:
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        await replica_client.delete_all()
        data = ltx(2, 3)
        await replica_client.write_ltx_file(1, 2, 3, data)
        assert keys(await listed(replica_client, 1)) == [(1, 2, 3)]
        assert await read(replica_client, 1, 2, 3) == data
