"""Embedding Litestream in an application: replicate and restore in a few lines.

Async applications::

    async with litestream_core.api.replicate("app.db", "file:///backups/app") as r:
        ...                       # the app writes to app.db
        await r.wait_for_sync()   # everything committed so far is on the replica

Plain (threaded or synchronous) applications get the same object running its own
event loop in a background thread::

    with litestream_core.api.replicate_in_background("app.db", "s3://bucket/app") as r:
        ...
        r.wait_for_sync(timeout=10)

    litestream_core.api.restore_sync("s3://bucket/app", "restored.db")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import pluggy

from litestream_core.client import ReplicaURL
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.restore import RestoreResult
from litestream_core.engine.restore import restore as _restore
from litestream_core.engine.store import Entry, Store
from litestream_core.events import Event

T = TypeVar("T")

__all__ = [
    "BackgroundReplication",
    "Replication",
    "replicate",
    "replicate_in_background",
    "restore",
    "restore_sync",
]


class Replication:
    """Replication of one database to one replica, on the caller's event loop."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        replica_url: str | ReplicaURL,
        *,
        options: Mapping[str, Any] | None = None,
        db_settings: DBSettings | None = None,
        replica_settings: ReplicaSettings | None = None,
        compaction: CompactionSettings | bool = True,
        shutdown_sync_timeout: float = 30.0,
        pm: pluggy.PluginManager | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        """``compaction``: Go's default levels, snapshots and retention (True), your own
        CompactionSettings, or False to only upload L0 files (another process compacts).
        """
        from litestream_core.plugins import (
            EventDispatcher,
            default_plugin_manager,
            make_replica_client,
        )

        self._pm = pm if pm is not None else default_plugin_manager()
        self._dispatcher = EventDispatcher(self._pm)
        self._on_event = on_event
        url = replica_url if isinstance(replica_url, ReplicaURL) else ReplicaURL.parse(replica_url)
        client = make_replica_client(url, options, pm=self._pm)
        self.db = DB(db_path, db_settings, emit=self._emit)
        self.replica = Replica(
            self.db, client, replica_settings, name=url.redacted(), emit=self._emit
        )
        compactor = None
        if compaction is not False:
            settings = compaction if isinstance(compaction, CompactionSettings) else None
            compactor = Compactor(client, settings, db=self.db, emit=self._emit,
                                  db_path=str(self.db.path))  # fmt: skip
        self._store = Store(
            [Entry(self.db, self.replica, compactor)], shutdown_sync_timeout=shutdown_sync_timeout
        )

    def _emit(self, event: Event) -> None:
        self._dispatcher.emit_nowait(event)
        if self._on_event is not None:
            self._on_event(event)

    async def start(self) -> None:
        await self._store.open()

    async def stop(self) -> bool:
        """Stop after a final sync; False if some changes could not be uploaded in time."""
        try:
            return await self._store.close()
        finally:
            await asyncio.to_thread(self._dispatcher.close, 2.0)

    async def wait_for_sync(self, timeout: float | None = None) -> int:
        """Replicate everything committed so far; returns the replica's TXID.

        Raises TimeoutError if the replica cannot be reached in time, or the storage
        error that stopped the upload.
        """
        return await asyncio.wait_for(self._store.sync(self._store.entries[0]), timeout)

    @property
    def txid(self) -> int:
        """The newest TXID known to be on the replica."""
        return self.replica.pos.txid

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def replicate(
    db_path: str | os.PathLike[str], replica_url: str | ReplicaURL, **kwargs: Any
) -> Replication:
    """A Replication to use with ``async with`` (or ``await r.start()`` / ``r.stop()``)."""
    return Replication(db_path, replica_url, **kwargs)


class BackgroundReplication:
    """A Replication running on its own event loop in a daemon thread.

    For applications without asyncio: every method blocks the caller (never the loop)
    and re-raises the engine's errors in the calling thread.
    """

    def __init__(
        self, db_path: str | os.PathLike[str], replica_url: str | ReplicaURL, **kwargs: Any
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="litestream-replication", daemon=True
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
        try:
            return self._call(self._replication.stop())
        finally:
            self._shutdown()

    def wait_for_sync(self, timeout: float | None = None) -> int:
        return self._call(self._replication.wait_for_sync(timeout))

    @property
    def txid(self) -> int:
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
    return Replication(db_path, replica_url, **kwargs)


def replicate_in_background(
    db_path: str | os.PathLike[str], replica_url: str | ReplicaURL, **kwargs: Any
) -> BackgroundReplication:
    """Start replicating in a background thread; ``stop()`` (or ``with``) ends it."""
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
    integrity_check: str = "quick",
    parallelism: int = 4,
    pm: pluggy.PluginManager | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RestoreResult:
    """Restore the replica's newest state (or ``txid``/``timestamp``) to ``output``."""
    from litestream_core.plugins import make_replica_client

    client = make_replica_client(replica_url, options, pm=pm)
    async with client:
        return await _restore(
            client, output, txid=txid, timestamp=timestamp, overwrite=overwrite,
            integrity_check=integrity_check, parallelism=parallelism, emit=on_event,
        )  # fmt: skip


def restore_sync(
    replica_url: str | ReplicaURL, output: str | os.PathLike[str], **kwargs: Any
) -> RestoreResult:
    """``restore`` for code without an event loop."""
    return asyncio.run(restore(replica_url, output, **kwargs))
