"""azure-core's errors in the core's terms: not found, permission, transient, or neither.

The engine retries only TransientReplicaError: 408, 429, 5xx and dropped connections
(Go's Azure retry policy covers the same statuses); bad credentials and a missing
container are not transient.
"""

from __future__ import annotations

from azure.core import exceptions as ax

from litestream_core.errors import (
    LTXNotFoundError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)


class Where:
    """What an operation was touching, for error messages (never credentials)."""

    def __init__(self, container: str, credential_source: str) -> None:
        self.container = container
        self.credential_source = credential_source


def error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", None) or "")


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
    target = f"abs://{where.container}/{key}" if key else f"container {where.container!r}"

    def make(
        cls: type[ReplicaClientError], message: str, hint: str | None = None
    ) -> ReplicaClientError:
        return cls(
            message,
            op=op,
            url=f"abs://{where.container}/{key}",
            level=level,
            min_txid=min_txid,
            max_txid=max_txid,
            hint=hint,
        )

    code = error_code(exc)
    status = int(getattr(exc, "status_code", None) or 0)
    not_found = isinstance(exc, ax.ResourceNotFoundError) or status == 404
    if code == "ContainerNotFound" or (not_found and not key):
        return make(
            ReplicaClientError,
            f"abs: container {where.container!r} does not exist",
            "create the container or correct the replica's bucket",
        )
    if not_found:
        return make(LTXNotFoundError, f"abs: {target} not found")
    if isinstance(exc, ax.ClientAuthenticationError) or status in (401, 403):
        why = code or (f"HTTP {status}" if status else "no usable credential")
        return make(
            ReplicaPermissionError,
            f"abs: access to container {where.container!r} denied ({why}) "
            f"using {where.credential_source}",
        )
    if isinstance(exc, ax.HttpResponseError) and status:
        cls = TransientReplicaError if status in (408, 429) or status >= 500 else ReplicaClientError
        return make(cls, f"abs: {op} {target}: {code or status}: {_first_line(exc)}")
    if isinstance(exc, ax.ServiceRequestError | ax.ServiceResponseError | OSError):
        return make(TransientReplicaError, f"abs: {op} {target}: {_first_line(exc)}")
    return make(ReplicaClientError, f"abs: {op} {target}: {type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    """Azure messages span lines (request ids, XML); the first one says what happened."""
    text = str(getattr(exc, "reason", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
