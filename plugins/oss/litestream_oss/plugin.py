"""Entry point of litestream-oss: declares Go's OSS keys and registers the ``oss``
scheme, without importing boto3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, ByteSize, Duration, Setting

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class OSSKeys(BackendSettings):
    """Go's oss keys; unset ones come from the URL's host, OSS_* variables or defaults."""

    access_key_id: Annotated[str | None, Setting("AccessKey ID; else OSS_ACCESS_KEY_ID")] = None
    secret_access_key: Annotated[
        str | None, Setting("AccessKey secret; else OSS_ACCESS_KEY_SECRET", secret=True)
    ] = None
    region: Annotated[str | None, Setting("region (default cn-hangzhou)")] = None
    bucket: Annotated[str | None, Setting("bucket, when the replica has no url")] = None
    endpoint: Annotated[str | None, Setting("endpoint; default the region's S3-compatible one")] = (
        None
    )
    part_size: Annotated[
        ByteSize | None, Setting("multipart part size (default 5MiB)", inherit=False, ge=1)
    ] = None
    concurrency: Annotated[
        int | None, Setting("parts uploaded at once (default 3)", inherit=False, gt=0)
    ] = None
    timeout: Annotated[
        Duration | None, Setting("deadline on each storage call's progress (default 30s)", gt=0)
    ] = None


def make_client(url: ReplicaURL, settings: OSSKeys) -> ReplicaClient:
    """Build an OSS client; boto3 is imported here, when a replica needs it."""
    from litestream_oss.client import OSSReplicaClient

    return OSSReplicaClient.from_url(url, settings.as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "oss",
        make_client,
        settings=OSSKeys,
        capabilities={Capability.ACCURATE_METADATA_TIMESTAMPS, Capability.RANGE_READS},
        description="Alibaba Cloud OSS (oss://bucket/path)",
    )
