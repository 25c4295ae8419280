"""Entry point of litestream-file: registers the ``file`` scheme, imports nothing heavy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class FileKeys(BackendSettings):
    """A file replica takes only ``path`` (or a ``file://`` URL), declared by the core."""


def _make_client(url: ReplicaURL, settings: FileKeys | Mapping[str, Any]) -> ReplicaClient:
    from litestream_file.client import FileReplicaClient

    return FileReplicaClient.from_url(url, FileKeys.coerce(settings).as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "file",
        _make_client,
        settings=FileKeys,
        capabilities={
            Capability.LOCAL_FILESYSTEM,
            Capability.ACCURATE_METADATA_TIMESTAMPS,
            Capability.RANGE_READS,
            Capability.CONDITIONAL_WRITES,
        },
        description="Local or mounted filesystem directory (file:///path or a plain path)",
    )
