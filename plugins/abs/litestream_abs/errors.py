"""azure-core's errors in the core's terms: not found, permission, transient, or neither.

The engine retries only TransientReplicaError: 408, 429, 5xx and dropped connections
(Go's Azure retry policy covers the same statuses); bad credentials and a missing
container are not transient.
"""

from __future__ import annotations

from azure.core import exceptions as ax

from litestream_core.backend_support import errors as backend_errors
from litestream_core.backend_support.errors import status_class
from litestream_core.errors import ReplicaClientError, TransientReplicaError


class Where(backend_errors.Where):
    """An Azure container and where the credentials came from."""

    scheme = "abs"
    noun = "container"


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
    failure = where.failure(op, key, level=level, min_txid=min_txid, max_txid=max_txid)
    code = error_code(exc)
    status = int(getattr(exc, "status_code", None) or 0)
    not_found = isinstance(exc, ax.ResourceNotFoundError) or status == 404
    if code == "ContainerNotFound" or (not_found and not key):
        return failure.missing_bucket()
    if not_found:
        return failure.not_found()
    if isinstance(exc, ax.ClientAuthenticationError) or status in (401, 403):
        return failure.denied(code or (f"HTTP {status}" if status else "no usable credential"))
    if isinstance(exc, ax.HttpResponseError) and status:
        return failure.failed(status_class(status), f"{code or status}: {_first_line(exc)}")
    if isinstance(exc, ax.ServiceRequestError | ax.ServiceResponseError | OSError):
        return failure.failed(TransientReplicaError, _first_line(exc))
    return failure.unexpected(exc, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    """Azure messages span lines (request ids, XML); the first one says what happened."""
    text = str(getattr(exc, "reason", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
