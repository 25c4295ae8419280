"""Atomic create (``SupportsExclusiveCreate``), for backends that declare
``Capability.CONDITIONAL_WRITES``: what the replica lease stands on."""

from __future__ import annotations

import asyncio

import pytest

from litestream_core.client import Capability, ReplicaClient, SupportsExclusiveCreate
from litestream_core.errors import ObjectExistsError
from litestream_core.testing.suite._base import SuiteBase, broken, keys, listed, ltx, read

LEVEL = 11


class ExclusiveCreateTests(SuiteBase):
    def exclusive(self, client: ReplicaClient) -> SupportsExclusiveCreate:
        if not self.declares(client, Capability.CONDITIONAL_WRITES):
            pytest.skip("the backend declares no conditional writes (no replica lease)")
        assert isinstance(client, SupportsExclusiveCreate), broken(
            "a backend declaring conditional writes has create_exclusive", type(client)
        )
        return client

    async def test_create_exclusive_refuses_an_existing_name(
        self, replica_client: ReplicaClient
    ) -> None:
        client = self.exclusive(replica_client)
        first, second = ltx(1, 1), ltx(1, 1, pages=3)
        await client.create_exclusive(LEVEL, 1, 1, first)
        with pytest.raises(ObjectExistsError):
            await client.create_exclusive(LEVEL, 1, 1, second)
        assert await read(replica_client, LEVEL, 1, 1) == first, broken(
            "a refused create leaves the existing file as it was", "its bytes changed"
        )
        assert keys(await listed(replica_client, LEVEL)) == [(LEVEL, 1, 1)], broken(
            "a created file is listed like any other, and a refused one leaves nothing",
            await listed(replica_client, LEVEL),
        )

    async def test_one_of_concurrent_creators_wins(self, replica_client: ReplicaClient) -> None:
        client = self.exclusive(replica_client)
        bodies = [ltx(2, 2, pages=n + 1) for n in range(4)]
        results = await asyncio.gather(
            *(client.create_exclusive(LEVEL, 2, 2, b) for b in bodies), return_exceptions=True
        )
        winners = [b for b, r in zip(bodies, results, strict=True) if r is None]
        losers = [r for r in results if r is not None]
        assert len(winners) == 1, broken("exactly one of concurrent creates succeeds", results)
        assert all(isinstance(r, ObjectExistsError) for r in losers), broken(
            "the others raise ObjectExistsError", losers
        )
        assert await read(replica_client, LEVEL, 2, 2) == winners[0], broken(
            "the stored file is the winner's, whole", "other bytes"
        )
