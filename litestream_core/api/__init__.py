"""Embedding Litestream in an application: replicate and restore in a few lines.

Async applications::

    async with litestream_core.api.replicate("app.db", "file:///backups/app") as r:
        ...                       # the app writes to app.db, with any SQLite library
        await r.wait_for_sync()   # everything committed so far is on the replica

Plain (threaded or synchronous) applications::

    with litestream_core.api.replicate_in_background("app.db", "s3://bucket/app") as r:
        ...
        r.wait_for_sync(timeout=10)

    litestream_core.api.restore_sync("s3://bucket/app", "restored.db")

Replication runs in a child process of its own (see ``_process`` for why); the
application's process only sends it requests and receives its events. Pass
``in_process=True`` to run the engine in the application's process instead: only
safe when the application itself opens the database through APSW, never through
the ``sqlite3`` module or another SQLite library.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from litestream_core.api._base import Replication
from litestream_core.api._process import ProcessReplication
from litestream_core.api._protocol import ReplicationStatus
from litestream_core.client import ReplicaURL
from litestream_core.engine.integrity import DEFAULT_INTEGRITY_CHECK

if TYPE_CHECKING:
    import pluggy

    from litestream_core.api._inprocess import InProcessReplication
    from litestream_core.engine.restore import RestoreResult
    from litestream_core.events import Event

T = TypeVar("T")

__all__ = [
    "BackgroundReplication",
    "InProcessReplication",
    "ProcessReplication",
    "Replication",
    "ReplicationStatus",
    "replicate",
    "replicate_in_background",
    "restore",
    "restore_sync",
]


def replicate(
    db_path: str | os.PathLike[str],
    replica_url: str | ReplicaURL,
    *,
    in_process: bool = False,
    **kwargs: Any,
) -> Replication:
    """A Replication to use with ``async with`` (or ``await r.start()`` / ``r.stop()``).

    Keyword arguments: ``options`` (the replica block's keys: the backend's settings, and
    ``age`` for an encrypted replica, as in YAML), ``db_settings``,
    ``replica_settings``, ``compaction``, ``shutdown_sync_timeout``, ``pm`` (whose
    ``litestream_event`` listeners get the events), ``on_event`` and ``compression``
    (the page codec, ``lz4`` by default; another makes a replica Go cannot restore).
    """
    if in_process:
        from litestream_core.api._inprocess import InProcessReplication

        return InProcessReplication(db_path, replica_url, **kwargs)
    return ProcessReplication(db_path, replica_url, **kwargs)


class BackgroundReplication:
    """A Replication driven from its own event loop in a daemon thread.

    For applications without asyncio: every method blocks the caller (never the loop)
    and re-raises replication's errors in the calling thread. ``on_event`` runs on
    that thread.
    """

    def __init__(
        self, db_path: str | os.PathLike[str], replica_url: str | ReplicaURL, **kwargs: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="litestream-replication-loop", daemon=True
        )
        self._thread.start()
        try:
            self._replication: Replication = self._call(_make(db_path, replica_url, kwargs))
        except BaseException:
            self._shutdown()
            raise

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError("timed out waiting for the replication thread") from None

    def start(self) -> None:
        try:
            self._call(self._replication.start())
        except BaseException:
            self._shutdown()
            raise

    def stop(self) -> bool:
        """Stop after a final sync; False if some changes could not be uploaded in time."""
        if not self._loop.is_running():
            return True
        try:
            return self._call(self._replication.stop())
        finally:
            self._shutdown()

    def wait_for_sync(self, timeout: float | None = None) -> int:
        """Replicate everything committed before the call; returns the replica's TXID."""
        return self._call(self._replication.wait_for_sync(timeout))

    def status(self) -> ReplicationStatus:
        return self._call(self._replication.status())

    @property
    def txid(self) -> int:
        """The newest TXID known to be on the replica (no round trip)."""
        return self._replication.txid

    def _shutdown(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _make(
    db_path: str | os.PathLike[str], replica_url: str | ReplicaURL, kwargs: dict[str, Any]
) -> Replication:
    """Built on the loop's thread, since the engine's asyncio objects belong to it."""
    return replicate(db_path, replica_url, **kwargs)


def replicate_in_background(
    db_path: str | os.PathLike[str], replica_url: str | ReplicaURL, **kwargs: Any
) -> BackgroundReplication:
    """Start replicating (``replicate``'s arguments); ``stop()`` (or ``with``) ends it."""
    replication = BackgroundReplication(db_path, replica_url, **kwargs)
    replication.start()
    return replication


async def restore(
    replica_url: str | ReplicaURL,
    output: str | os.PathLike[str],
    *,
    options: Mapping[str, Any] | None = None,
    txid: int | None = None,
    timestamp: datetime | None = None,
    overwrite: bool = False,
    integrity_check: str = DEFAULT_INTEGRITY_CHECK,
    parallelism: int = 4,
    pm: pluggy.PluginManager | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RestoreResult:
    """Restore the replica's newest state (or ``txid``/``timestamp``) to ``output``.

    Runs in this process: it only writes a new file beside ``output`` and renames it
    into place, so no other connection's locks are involved.
    """
    from litestream_core.encryption import client_from_options
    from litestream_core.engine.restore import restore as _restore
    from litestream_core.plugins import get_plugin_manager, page_codecs

    pm = pm if pm is not None else get_plugin_manager()
    client = client_from_options(replica_url, options, pm)
    async with client:
        return await _restore(
            client, output, txid=txid, timestamp=timestamp, overwrite=overwrite,
            integrity_check=integrity_check, parallelism=parallelism, emit=on_event,
            codecs=page_codecs(pm),
        )  # fmt: skip


def restore_sync(
    replica_url: str | ReplicaURL, output: str | os.PathLike[str], **kwargs: Any
) -> RestoreResult:
    """``restore`` for code without an event loop."""
    return asyncio.run(restore(replica_url, output, **kwargs))


def __getattr__(name: str) -> Any:
    """``InProcessReplication`` on first use: it brings the whole engine (APSW, the WAL
    checksum kernel), which an application that replicates in a child process never
    needs in its own."""
    if name == "InProcessReplication":
        from litestream_core.api._inprocess import InProcessReplication

        return InProcessReplication
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
