"""Entry point of litestream-nats: registers the ``nats`` scheme without importing nats-py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    """Build a NATS client; nats-py is imported here, when a replica needs it."""
    from litestream_nats.client import NATSReplicaClient

    return NATSReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register("nats", make_client, description="NATS JetStream object store (nats-py)")
