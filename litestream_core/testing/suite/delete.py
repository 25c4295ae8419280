"""Deleting: files vanish, missing files are ignored, delete_all is safe to repeat."""

from __future__ import annotations

import pytest

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaClient
from litestream_core.errors import LTXNotFoundError
from litestream_core.testing.suite._base import (
    SuiteBase,
    broken,
    byte_difference,
    file_ref,
    keys,
    listed,
    ltx,
    read,
)


class DeleteTests(SuiteBase):
    async def test_deleted_files_vanish(self, replica_client: ReplicaClient) -> None:
        infos = [await replica_client.write_ltx_file(0, n, n, ltx(n, n)) for n in range(1, 6)]
        await replica_client.delete_ltx_files([infos[1], infos[3]])
        found = keys(await listed(replica_client, 0))
        assert found == [(0, 1, 1), (0, 3, 3), (0, 5, 5)], broken(
            "deleted files leave listings, the others stay", f"listed {found}"
        )
        for gone in (2, 4):
            with pytest.raises(LTXNotFoundError):
                await replica_client.open_ltx_file(0, gone, gone)
        got = await read(replica_client, 0, 3, 3)
        assert got == ltx(3, 3), broken(
            "deletes leave other files whole", byte_difference(got, ltx(3, 3))
        )

    async def test_delete_missing_files_is_noop(self, replica_client: ReplicaClient) -> None:
        kept = await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        gone = await replica_client.write_ltx_file(0, 2, 2, ltx(2, 2))
        await replica_client.delete_ltx_files([gone])
        await replica_client.delete_ltx_files([gone, file_ref(0, 7, 8), file_ref(3, 1, 1)])
        await replica_client.delete_ltx_files([])
        found = keys(await listed(replica_client, 0))
        assert found == [(kept.level, 1, 1)], broken(
            "deleting missing files changes nothing", f"listed {found}"
        )

    async def test_delete_all_removes_every_level(self, replica_client: ReplicaClient) -> None:
        for level in (0, 1, SNAPSHOT_LEVEL):
            await replica_client.write_ltx_file(level, 1, 2, ltx(1, 2))
        await replica_client.delete_all()
        for level in (0, 1, SNAPSHOT_LEVEL):
            found = keys(await listed(replica_client, level))
            assert found == [], broken("delete_all empties every level", f"listed {found}")
            with pytest.raises(LTXNotFoundError):
                await replica_client.open_ltx_file(level, 1, 2)

    async def test_delete_all_is_idempotent_and_works_on_empty_replica(
        self, replica_client: ReplicaClient
    ) -> None:
        await replica_client.delete_all()
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        await replica_client.delete_all()
        await replica_client.delete_all()
        found = keys(await listed(replica_client, 0))
        assert found == [], broken("delete_all twice leaves an empty replica", f"listed {found}")

    async def test_client_usable_after_delete_all(self, replica_client: ReplicaClient) -> None:
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        await replica_client.delete_all()
        data = ltx(2, 3)
        await replica_client.write_ltx_file(1, 2, 3, data)
        found = keys(await listed(replica_client, 1))
        assert found == [(1, 2, 3)], broken("the client works after delete_all", f"listed {found}")
        got = await read(replica_client, 1, 2, 3)
        assert got == data, broken("the client works after delete_all", byte_difference(got, data))
