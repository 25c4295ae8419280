"""litestream-s3 against the shared conformance suite, on a real moto S3 server."""

from __future__ import annotations

import pytest

from litestream_core.client import Capability
from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite


class TestS3Conformance(ReplicaClientSuite):
    capabilities = frozenset({Capability.ACCURATE_METADATA_TIMESTAMPS, Capability.RANGE_READS})
    plugin_name = "s3"
    schemes = ("s3",)
    heavy_modules = ("boto3", "botocore", "litestream_s3.client")

    @pytest.fixture
    async def replica_client(self, moto, bucket, replica_prefix):
        async with make_replica_client(f"s3://{bucket}/{replica_prefix}", moto.options()) as client:
            yield client
