"""Entry point of litestream-abs: registers the ``abs`` scheme without importing the SDK."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def _make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    from litestream_abs.client import ABSReplicaClient

    return ABSReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register(
        "abs",
        _make_client,
        description="Azure Blob Storage (abs://[account@]container/path)",
    )
