"""The entry point: registers the ``example`` scheme, and imports nothing heavy.

``litestream --help`` and ``litestream plugins`` load every plugin, so this module
imports only litestream_core; the client (and any SDK it needs) is imported by the
factory, when a replica uses the scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    from litestream_example.client import ExampleReplicaClient

    return ExampleReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register("example", make_client, description="Example storage (example://host:port/path)")
