"""litestream-file against the shared conformance suite."""

from __future__ import annotations

import pytest
from litestream_file.client import FileReplicaClient

from litestream_core.testing import ReplicaClientSuite


class TestFileConformance(ReplicaClientSuite):
    plugin_name = "file"
    schemes = ("file",)
    heavy_modules = ("litestream_file.client",)

    @pytest.fixture
    async def replica_client(self, tmp_path, replica_prefix):
        async with FileReplicaClient(tmp_path / replica_prefix) as client:
            yield client
