"""Entry point of litestream-gcs: registers the ``gs`` scheme without importing the SDK."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, Duration, Setting

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class GCSKeys(BackendSettings):
    """Go's gs keys; credentials come from Application Default Credentials."""

    bucket: Annotated[str | None, Setting("bucket, when the replica has no url")] = None
    timeout: Annotated[
        Duration | None, Setting("deadline on each storage call's progress (default 30s)", gt=0)
    ] = None


def _make_client(url: ReplicaURL, settings: GCSKeys | Mapping[str, Any]) -> ReplicaClient:
    from litestream_gcs.client import GCSReplicaClient

    return GCSReplicaClient.from_url(url, GCSKeys.coerce(settings).as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "gs",
        _make_client,
        settings=GCSKeys,
        capabilities={
            Capability.ACCURATE_METADATA_TIMESTAMPS,
            Capability.RANGE_READS,
            Capability.CONDITIONAL_WRITES,
        },
        description="Google Cloud Storage (gs://bucket/path)",
    )
