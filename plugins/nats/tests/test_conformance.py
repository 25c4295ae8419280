"""litestream-nats against the shared conformance suite, on a real nats-server."""

from __future__ import annotations

import pytest

from litestream_core.client import ReplicaURL
from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite


class TestNATSConformance(ReplicaClientSuite):
    plugin_name = "nats"
    schemes = ("nats",)
    heavy_modules = ("nats", "litestream_nats.client")

    @pytest.fixture
    async def replica_client(self, nats_server, bucket):
        async with make_replica_client(
            ReplicaURL.parse(f"{nats_server.url}/{bucket}"), {}
        ) as client:
            yield client
