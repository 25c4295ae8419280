"""What the conformance suite cannot know about this backend: its settings and errors."""

from __future__ import annotations

import pytest
from litestream_example.client import ExampleSettings

from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError, ReplicaPermissionError
from litestream_core.plugins import make_replica_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_settings_come_from_the_url_and_the_backends_own_keys() -> None:
    url = ReplicaURL.parse("example://storage.internal:8080/backups/app")
    settings = ExampleSettings.from_url(url, {"example-token": "t0ken"})
    assert (settings.server, settings.path, settings.token) == (
        "http://storage.internal:8080",
        "/backups/app",
        "t0ken",
    )
    assert "t0ken" not in repr(settings)
    with pytest.raises(ConfigError):
        ExampleSettings.from_url(ReplicaURL.parse("example:///no-host"), {})


async def test_a_wrong_token_is_a_permission_error(storage_server) -> None:
    client = make_replica_client(storage_server.url("denied"), {"example-token": "wrong"})
    with pytest.raises(ReplicaPermissionError) as info:
        await client.init()
    assert "wrong" not in str(info.value)
    await client.close()
