"""botocore's errors in the core's terms: not found, permission, transient, or neither.

The engine retries only TransientReplicaError, so anything a retry cannot fix (bad
keys, a missing bucket, a TLS failure) must not be classed as transient, and anything a
retry can fix (throttling, 5xx, dropped connections) must be.
"""

from __future__ import annotations

from botocore import exceptions as bx  # type: ignore[import-untyped]

from litestream_core.errors import (
    LTXNotFoundError,
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
    """The core error for a botocore (or socket) error raised by ``op`` on ``key``."""
    target = f"s3://{where.bucket}/{key}" if key else f"bucket {where.bucket!r}"

    def make(
        cls: type[ReplicaClientError], message: str, hint: str | None = None
    ) -> ReplicaClientError:
        return cls(
            message,
            op=op,
            url=f"s3://{where.bucket}/{key}",
            level=level,
            min_txid=min_txid,
            max_txid=max_txid,
            hint=hint,
        )

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = f"{code or status}: {error.get('Message') or code or f'HTTP {status}'}"
        if code == "NoSuchBucket":
            return make(
                ReplicaClientError,
                f"s3: bucket {where.bucket!r} does not exist",
                "create the bucket or correct the replica's bucket",
            )
        if code in _NOT_FOUND_CODES or status == 404:
            return make(LTXNotFoundError, f"s3: {target} not found")
        if code in _PERMISSION_CODES or status in (401, 403):
            return make(
                ReplicaPermissionError,
                f"s3: access to bucket {where.bucket!r} denied ({code or status}) "
                f"using credentials from {where.credential_source}",
            )
        if code in _TRANSIENT_CODES or status in (408, 429) or status >= 500:
            return make(TransientReplicaError, f"s3: {op} {target}: {detail}")
        return make(ReplicaClientError, f"s3: {op} {target}: {detail}")
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return make(
            ReplicaPermissionError,
            f"s3: no usable AWS credentials for bucket {where.bucket!r} ({exc})",
            "set access-key-id and secret-access-key, LITESTREAM_ACCESS_KEY_ID and "
            "LITESTREAM_SECRET_ACCESS_KEY, or configure the AWS credential chain",
        )
    if isinstance(exc, bx.SSLError):
        return make(
            ReplicaClientError,
            f"s3: TLS failure talking to the endpoint for bucket {where.bucket!r}: {exc}",
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
        return make(TransientReplicaError, f"s3: {op} {target}: {_one_line(exc)}")
    return make(ReplicaClientError, f"s3: {op} {target}: {type(exc).__name__}: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
