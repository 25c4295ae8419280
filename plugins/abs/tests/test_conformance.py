"""litestream-abs against the shared conformance suite, on a real Azurite server."""

from __future__ import annotations

import pytest

from litestream_core.client import Capability
from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite


class TestABSConformance(ReplicaClientSuite):
    capabilities = frozenset({Capability.ACCURATE_METADATA_TIMESTAMPS, Capability.RANGE_READS})
    plugin_name = "abs"
    schemes = ("abs",)
    heavy_modules = ("azure.storage.blob", "azure.core", "litestream_abs.client")

    @pytest.fixture
    async def replica_client(self, azurite, container, replica_prefix):
        async with make_replica_client(
            f"abs://{container}/{replica_prefix}", azurite.options()
        ) as client:
            yield client
