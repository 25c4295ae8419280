"""The backend against Litestream's conformance suite, on the test server."""

from __future__ import annotations

import pytest

from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite


class TestExampleConformance(ReplicaClientSuite):
    plugin_name = "example"  # the entry-point name
    schemes = ("example",)  # what the plugin registers, exactly
    heavy_modules = ("litestream_example.client",)  # and your SDK: never loaded with the plugin

    @pytest.fixture
    async def replica_client(self, storage_server, replica_prefix):
        url = storage_server.url(replica_prefix)
        async with make_replica_client(url, storage_server.options()) as client:
            yield client
