"""google-cloud-storage's errors in the core's terms: not found, permission, transient.

The engine retries only TransientReplicaError: throttling, 5xx, timeouts and dropped
connections are transient; bad credentials and missing buckets are not.
"""

from __future__ import annotations

import requests
from google.api_core import exceptions as gx
from google.auth import exceptions as auth_x

from litestream_core.errors import (
    LTXNotFoundError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)


class Where:
    """What an operation was touching, for error messages (never credentials)."""

    def __init__(self, bucket: str, credential_source: str) -> None:
        self.bucket = bucket
        self.credential_source = credential_source


def translate(
    exc: BaseException,
    where: Where,
    op: str,
    key: str = "",
    *,
    level: int | None = None,
    min_txid: int | None = None,
    max_txid: int | None = None,
) -> ReplicaClientError:
    """The core error for an SDK (or socket) error raised by ``op`` on ``key``."""
    target = f"gs://{where.bucket}/{key}" if key else f"bucket {where.bucket!r}"

    def make(
        cls: type[ReplicaClientError], message: str, hint: str | None = None
    ) -> ReplicaClientError:
        return cls(
            message,
            op=op,
            url=f"gs://{where.bucket}/{key}",
            level=level,
            min_txid=min_txid,
            max_txid=max_txid,
            hint=hint,
        )

    if isinstance(exc, gx.RetryError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, gx.NotFound):
        if not key or "bucket" in str(exc.message).lower():
            return make(
                ReplicaClientError,
                f"gs: bucket {where.bucket!r} does not exist",
                "create the bucket or correct the replica's bucket",
            )
        return make(LTXNotFoundError, f"gs: {target} not found")
    if isinstance(exc, gx.Forbidden | gx.Unauthorized | auth_x.RefreshError):
        return make(
            ReplicaPermissionError,
            f"gs: access to bucket {where.bucket!r} denied ({_status(exc)}) "
            f"using {where.credential_source}",
        )
    if isinstance(exc, auth_x.DefaultCredentialsError):
        return make(
            ReplicaPermissionError,
            f"gs: no Google credentials found for bucket {where.bucket!r}",
            "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`",
        )
    if isinstance(exc, gx.GoogleAPICallError):
        code = int(exc.code or 0)
        cls = TransientReplicaError if code in (408, 429) or code >= 500 else ReplicaClientError
        return make(cls, f"gs: {op} {target}: {_one_line(exc)}")
    transient = (
        gx.RetryError,
        auth_x.TransportError,
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        OSError,
    )
    if isinstance(exc, transient):
        return make(TransientReplicaError, f"gs: {op} {target}: {_one_line(exc)}")
    return make(ReplicaClientError, f"gs: {op} {target}: {type(exc).__name__}: {_one_line(exc)}")


def _status(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"HTTP {code}" if code else type(exc).__name__


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
