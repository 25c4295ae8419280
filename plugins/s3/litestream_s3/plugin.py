"""Entry point of litestream-s3: registers the ``s3`` scheme without importing boto3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, ByteSize, Duration, Setting

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class S3Keys(BackendSettings):
    """Go's s3 keys. Unset ones are derived as Go derives them (from the URL's host, the
    endpoint's provider, the AWS credential chain); URL query parameters fill the rest."""

    access_key_id: Annotated[str | None, Setting("static access key; else the AWS chain")] = None
    secret_access_key: Annotated[str | None, Setting("its secret", secret=True)] = None
    region: Annotated[str | None, Setting("bucket region; looked up when unset")] = None
    bucket: Annotated[str | None, Setting("bucket, when the replica has no url")] = None
    endpoint: Annotated[str | None, Setting("S3-compatible endpoint (MinIO, R2, ...)")] = None
    force_path_style: Annotated[
        bool | None, Setting("path-style addressing; default: true with an endpoint")
    ] = None
    sign_payload: Annotated[bool | None, Setting("sign request bodies (default true)")] = None
    require_content_md5: Annotated[
        bool | None, Setting("send Content-MD5 (default true; false for Tigris)")
    ] = None
    skip_verify: Annotated[bool | None, Setting("skip TLS certificate verification")] = None
    storage_class: Annotated[str | None, Setting("storage class of uploaded objects")] = None
    part_size: Annotated[
        ByteSize | None, Setting("multipart part size (default 5MiB)", inherit=False, ge=1)
    ] = None
    concurrency: Annotated[
        int | None, Setting("parts uploaded at once (default 5; R2: 2)", inherit=False, gt=0)
    ] = None
    sse_customer_algorithm: Annotated[str | None, Setting("SSE-C algorithm (AES256)")] = None
    sse_customer_key: Annotated[
        str | None, Setting("SSE-C key, base64 of 32 bytes", secret=True)
    ] = None
    sse_customer_key_path: Annotated[str | None, Setting("file holding the SSE-C key")] = None
    sse_kms_key_id: Annotated[str | None, Setting("KMS key for SSE-KMS")] = None
    sign_accept_encoding: Annotated[
        bool | None,
        Setting("sign Accept-Encoding (default true; false behind a proxy rewriting it)"),
    ] = None
    timeout: Annotated[
        Duration | None, Setting("deadline on each storage call's progress (default 30s)", gt=0)
    ] = None


def _make_client(url: ReplicaURL, settings: S3Keys | Mapping[str, Any]) -> ReplicaClient:
    from litestream_s3.client import S3ReplicaClient

    return S3ReplicaClient.from_url(url, S3Keys.coerce(settings).as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "s3",
        _make_client,
        settings=S3Keys,
        capabilities={
            Capability.ACCURATE_METADATA_TIMESTAMPS,
            Capability.RANGE_READS,
            Capability.CONDITIONAL_WRITES,
        },
        description="Amazon S3 and S3-compatible stores (s3://bucket/path)",
    )
