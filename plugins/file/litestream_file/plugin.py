"""Entry point of litestream-file: registers the ``file`` scheme, imports nothing heavy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def _make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    from litestream_file.client import FileReplicaClient

    return FileReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register(
        "file",
        _make_client,
        description="Local or mounted filesystem directory (file:///path or a plain path)",
    )
