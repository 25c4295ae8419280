"""Entry point of litestream-s3: registers the ``s3`` scheme without importing boto3."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


def _make_client(url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
    from litestream_s3.client import S3ReplicaClient

    return S3ReplicaClient.from_url(url, options)


@hookimpl
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    register(
        "s3",
        _make_client,
        description="Amazon S3 and S3-compatible stores (s3://bucket/path)",
    )
