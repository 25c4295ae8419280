"""litestream-oss against the shared conformance suite, on a real (moto) object store."""

from __future__ import annotations

import pytest

from litestream_core.client import Capability
from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite


class TestOSSConformance(ReplicaClientSuite):
    capabilities = frozenset({Capability.ACCURATE_METADATA_TIMESTAMPS, Capability.RANGE_READS})
    plugin_name = "oss"
    schemes = ("oss",)
    heavy_modules = ("boto3", "botocore", "litestream_oss.client", "litestream_s3.client")

    @pytest.fixture
    async def replica_client(self, oss, bucket, replica_prefix):
        async with make_replica_client(f"oss://{bucket}/{replica_prefix}", oss.options()) as client:
            yield client
