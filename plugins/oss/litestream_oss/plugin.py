"""Entry point of litestream-oss: registers the ``oss`` scheme without importing boto3."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    """Build an OSS client; boto3 is imported here, when a replica needs it."""
    from litestream_oss.client import OSSReplicaClient

    return OSSReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register("oss", make_client, description="Alibaba Cloud OSS (oss://bucket/path)")
