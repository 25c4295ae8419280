"""litestream-gcs against the shared conformance suite, on a real fake-gcs-server."""

from __future__ import annotations

import pytest

from litestream_core.client import Capability
from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite


class TestGCSConformance(ReplicaClientSuite):
    capabilities = frozenset({Capability.ACCURATE_METADATA_TIMESTAMPS, Capability.RANGE_READS})
    plugin_name = "gcs"
    schemes = ("gs",)
    heavy_modules = ("google.cloud.storage", "google.api_core", "litestream_gcs.client")

    @pytest.fixture
    async def replica_client(self, gcs, bucket, replica_prefix):
        async with make_replica_client(f"gs://{bucket}/{replica_prefix}") as client:
            yield client
