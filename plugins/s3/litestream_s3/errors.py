"""botocore's errors in the core's terms: not found, permission, transient, or neither.

The engine retries only TransientReplicaError, so anything a retry cannot fix (bad
keys, a missing bucket, a TLS failure) must not be classed as transient, and anything a
retry can fix (throttling, 5xx, dropped connections) must be.
"""

from __future__ import annotations

from botocore import exceptions as bx  # type: ignore[import-untyped]

from litestream_core.backend_support import errors as backend_errors
from litestream_core.backend_support.errors import one_line, status_class
from litestream_core.errors import (
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_PERMISSION_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "RequestCanceled",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)


class Where(backend_errors.Where):
    """An S3 bucket and where the credentials came from."""

    scheme = "s3"


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
    """The core error for a botocore (or socket) error raised by ``op`` on ``key``."""
    failure = where.failure(op, key, level=level, min_txid=min_txid, max_txid=max_txid)
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = f"{code or status}: {error.get('Message') or code or f'HTTP {status}'}"
        if code == "NoSuchBucket":
            return failure.missing_bucket()
        if code in _NOT_FOUND_CODES or status == 404:
            return failure.not_found()
        if code in _PERMISSION_CODES or status in (401, 403):
            return failure.denied(
                str(code or status), f"credentials from {where.credential_source}"
            )
        if code in _TRANSIENT_CODES:
            return failure.failed(TransientReplicaError, detail)
        return failure.failed(status_class(status), detail)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return failure.error(
            ReplicaPermissionError,
            f"s3: no usable AWS credentials for bucket {where.name!r} ({exc})",
            "set access-key-id and secret-access-key, LITESTREAM_ACCESS_KEY_ID and "
            "LITESTREAM_SECRET_ACCESS_KEY, or configure the AWS credential chain",
        )
    if isinstance(exc, bx.SSLError):
        return failure.error(
            ReplicaClientError,
            f"s3: TLS failure talking to the endpoint for bucket {where.name!r}: {exc}",
            "check the endpoint, or set skip-verify: true for a self-signed certificate",
        )
    transient = (
        bx.ConnectionError,
        bx.HTTPClientError,
        bx.ResponseStreamingError,
        bx.IncompleteReadError,
        OSError,
    )
    if isinstance(exc, transient):
        return failure.failed(TransientReplicaError, one_line(exc))
    return failure.unexpected(exc, one_line(exc))
