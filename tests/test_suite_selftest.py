import pytest
from litestream_core.testing import ReplicaClientSuite, MemoryReplicaClient

class TestMemoryConformance(ReplicaClientSuite):
    @pytest.fixture
    async def replica_client(self):
        client = MemoryReplicaClient()
        await client.init()
        yield client
        await client.close()
