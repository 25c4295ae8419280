"""Reporting failures of the long-running loops: a typed event every time, and for an
unexpected exception (a bug, not one of the product's errors) its traceback, once.

A loop that retries forever would otherwise either flood the log with the same
traceback or hide it behind a one-line message; the first occurrence of each kind of
unexpected error gets the traceback, later ones the loop's usual rate-limited line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from litestream_core.errors import LitestreamError, describe
from litestream_core.events import Event, OperationFailed
from litestream_core.logs import replica_type


def is_unexpected(exc: BaseException) -> bool:
    """Neither one of our errors nor the environment's (disk, permissions): a bug."""
    return not isinstance(exc, LitestreamError | OSError)


class FailureReporter:
    """The failure events and tracebacks of one loop (a database, replica or compactor)."""

    def __init__(
        self,
        log: logging.Logger,
        emit: Callable[[Event], None] | None,
        *,
        db_path: str,
        replica: str | None = None,
    ) -> None:
        self._log = log
        self._emit = emit
        self._db_path = db_path
        self._replica = replica
        self._traced: set[tuple[str, str]] = set()

    def report(
        self,
        exc: BaseException,
        *,
        operation: str,
        attempt: int,
        will_retry: bool = True,
        event: type[OperationFailed] = OperationFailed,
    ) -> OperationFailed:
        """Emit ``event`` for ``exc``; log its traceback if it is the first of its kind."""
        unexpected = is_unexpected(exc)
        failure = event(
            db_path=self._db_path,
            operation=operation,
            replica=self._replica,
            error=describe(exc),
            error_class=type(exc).__name__,
            attempt=attempt,
            will_retry=will_retry,
            unexpected=unexpected,
        )
        kind = (operation, type(exc).__name__)
        if unexpected and kind not in self._traced:
            self._traced.add(kind)
            where = {"replica": replica_type(self._replica)} if self._replica else {}
            self._log.error(
                "unexpected error: a bug; please report it with this traceback",
                extra={"db": self._db_path, **where, "operation": operation,
                       "error": failure.error},
                exc_info=exc,
            )  # fmt: skip
        if self._emit is not None:
            try:
                self._emit(failure)
            except Exception:  # a listener must never stop replication
                self._log.exception("event listener failed")
        return failure
