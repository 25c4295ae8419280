"""google-cloud-storage's errors in the core's terms: not found, permission, transient.

The engine retries only TransientReplicaError: throttling, 5xx, timeouts and dropped
connections are transient; bad credentials and missing buckets are not.
"""

from __future__ import annotations

import requests
from google.api_core import exceptions as gx
from google.auth import exceptions as auth_x

from litestream_core.backend_support import errors as backend_errors
from litestream_core.backend_support.errors import one_line, status_class
from litestream_core.errors import (
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)


class Where(backend_errors.Where):
    """A GCS bucket and where the credentials came from."""

    scheme = "gs"


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
    failure = where.failure(op, key, level=level, min_txid=min_txid, max_txid=max_txid)
    if isinstance(exc, gx.RetryError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, gx.NotFound):
        if not key or "bucket" in str(exc.message).lower():
            return failure.missing_bucket()
        return failure.not_found()
    if isinstance(exc, gx.Forbidden | gx.Unauthorized | auth_x.RefreshError):
        return failure.denied(_status(exc))
    if isinstance(exc, auth_x.DefaultCredentialsError):
        return failure.error(
            ReplicaPermissionError,
            f"gs: no Google credentials found for bucket {where.name!r}",
            "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`",
        )
    if isinstance(exc, gx.GoogleAPICallError):
        return failure.failed(status_class(int(exc.code or 0)), one_line(exc))
    transient = (
        gx.RetryError,
        auth_x.TransportError,
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        OSError,
    )
    if isinstance(exc, transient):
        return failure.failed(TransientReplicaError, one_line(exc))
    return failure.unexpected(exc, one_line(exc))


def _status(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return f"HTTP {code}" if code else type(exc).__name__
