"""Entry point of litestream-sftp: registers the ``sftp`` scheme without importing paramiko."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    """Build an SFTP client; paramiko is imported here, when a replica needs it."""
    from litestream_sftp.client import SFTPReplicaClient

    return SFTPReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register("sftp", make_client, description="SFTP server (paramiko)")
