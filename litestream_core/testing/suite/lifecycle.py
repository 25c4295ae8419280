"""Lifecycle: init and close are idempotent; the client is an async context manager.

Tests here close the client themselves, so a backend's fixture teardown must cope with
a closed client (``close()`` again is fine; further I/O is not).
"""

from __future__ import annotations

import pytest

from litestream_core.client import ReplicaClient
from litestream_core.testing.suite._base import SuiteBase, keys, listed, ltx


class _Boom(Exception):
    pass


class LifecycleTests(SuiteBase):
    async def test_init_is_idempotent(self, replica_client: ReplicaClient) -> None:
        await replica_client.init()
        await replica_client.init()
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        assert keys(await listed(replica_client, 0)) == [(0, 1, 1)]

    async def test_close_is_idempotent(self, replica_client: ReplicaClient) -> None:
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        await replica_client.delete_all()
        await replica_client.close()
        await replica_client.close()

    async def test_async_context_manager(self, replica_client: ReplicaClient) -> None:
        async with replica_client as entered:
            assert entered is replica_client
            await entered.write_ltx_file(0, 1, 1, ltx(1, 1))
            assert keys(await listed(entered, 0)) == [(0, 1, 1)]
            await entered.delete_all()
        await replica_client.close()

    async def test_async_context_manager_propagates_errors(
        self, replica_client: ReplicaClient
    ) -> None:
        with pytest.raises(_Boom):
            async with replica_client:
                raise _Boom
