"""Entry point of litestream-webdav: registers ``webdav`` and ``webdavs`` without httpx."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    """Build a WebDAV client; httpx is imported here, when a replica needs it."""
    from litestream_webdav.client import WebDAVReplicaClient

    return WebDAVReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register("webdav", make_client, description="WebDAV server over http (httpx)")
    register("webdavs", make_client, description="WebDAV server over https (httpx)")
