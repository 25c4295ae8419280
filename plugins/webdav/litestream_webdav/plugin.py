"""Entry point of litestream-webdav: declares its keys and registers ``webdav`` and
``webdavs``, without importing httpx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, Duration, Setting

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class WebDAVKeys(BackendSettings):
    """Go's webdav keys (which Go does not inherit from the top level), and ``timeout``."""

    webdav_url: Annotated[
        str | None,
        Setting("server URL, http:// or https://, with an optional root path", inherit=False),
    ] = None
    webdav_username: Annotated[str | None, Setting("user name", inherit=False)] = None
    webdav_password: Annotated[str | None, Setting("password", secret=True, inherit=False)] = None
    timeout: Annotated[
        Duration | None, Setting("deadline on each request's progress (default 30s, as Go)", gt=0)
    ] = None


def make_client(url: ReplicaURL, settings: WebDAVKeys) -> ReplicaClient:
    """Build a WebDAV client; httpx is imported here, when a replica needs it."""
    from litestream_webdav.client import WebDAVReplicaClient

    return WebDAVReplicaClient.from_url(url, settings.as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    capabilities = {Capability.ACCURATE_METADATA_TIMESTAMPS, Capability.RANGE_READS}
    for scheme, transport in (("webdav", "http"), ("webdavs", "https")):
        register(
            scheme,
            make_client,
            settings=WebDAVKeys,
            capabilities=capabilities,
            description=f"WebDAV server over {transport} (httpx)",
        )
