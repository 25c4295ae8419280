"""litestream-webdav against the shared conformance suite, on a real WsgiDAV server."""

from __future__ import annotations

import pytest

from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite


class TestWebDAVConformance(ReplicaClientSuite):
    plugin_name = "webdav"
    schemes = ("webdav", "webdavs")
    heavy_modules = ("httpx", "litestream_webdav.client")

    @pytest.fixture
    async def replica_client(self, dav, replica_prefix):
        async with make_replica_client(dav.url(replica_prefix), {}) as client:
            yield client
