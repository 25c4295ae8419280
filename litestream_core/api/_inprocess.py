"""The engine on the caller's own event loop: what the replication process runs, and
the ``in_process=True`` opt-in for applications whose only SQLite is APSW's."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pluggy

from litestream_core.api._base import Replication
from litestream_core.api._protocol import ReplicationStatus
from litestream_core.client import ReplicaURL
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.store import Entry, Store
from litestream_core.events import Event

log = logging.getLogger("litestream.api")


class InProcessReplication(Replication):
    """The engine in this process.

    Only safe when every SQLite connection to the database in this process goes
    through APSW (the same SQLite library as the engine): POSIX locks are per process,
    so another SQLite copy here, such as the ``sqlite3`` module, would not see the
    engine's locks and could checkpoint past the WAL frames it has not copied yet.
    """

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
        dispatch_events: bool = True,
        compression: str = "lz4",
    ) -> None:
        """``compaction``: Go's default levels, snapshots and retention (True), your own
        CompactionSettings, or False to only upload L0 files (another process compacts).
        ``dispatch_events=False`` leaves the plugins' listeners out: the replication
        process forwards its events to the application, whose listeners get them there.
        ``compression``: the page codec new LTX files are written with, as the config's
        key (any but ``lz4`` makes a replica Go cannot restore).
        """
        from litestream_core.encryption import client_from_options
        from litestream_core.event_dispatch import EventDispatcher
        from litestream_core.plugins import get_plugin_manager, page_codecs

        pm = pm if pm is not None else get_plugin_manager()
        codecs = page_codecs(pm, compression)
        if compression != "lz4":
            log.warning("this compression makes a replica Go Litestream cannot restore",
                        extra={"db": os.fspath(db_path), "compression": compression})  # fmt: skip
        self._dispatcher = EventDispatcher(pm) if dispatch_events else None
        self._on_event = on_event
        url = replica_url if isinstance(replica_url, ReplicaURL) else ReplicaURL.parse(replica_url)
        client = client_from_options(url, options, pm)
        self.db = DB(db_path, replace(db_settings or DBSettings(), page_codecs=codecs),
                     emit=self._emit)  # fmt: skip
        self.replica = Replica(
            self.db, client, replica_settings, name=url.redacted(), emit=self._emit
        )
        compactor = None
        if compaction is not False:
            settings = compaction if isinstance(compaction, CompactionSettings) else None
            compactor = Compactor(client, settings, db=self.db, emit=self._emit,
                                  db_path=str(self.db.path), codecs=codecs,
                                  replica_name=url.redacted())  # fmt: skip
        self._store = Store(
            [Entry(self.db, self.replica, compactor)], shutdown_sync_timeout=shutdown_sync_timeout
        )

    def _emit(self, event: Event) -> None:
        if self._dispatcher is not None:
            self._dispatcher.emit_nowait(event)
        if self._on_event is not None:
            self._on_event(event)

    async def start(self) -> None:
        await self._store.open()

    async def stop(self) -> bool:
        try:
            return await self._store.close()
        finally:
            if self._dispatcher is not None:
                await asyncio.to_thread(self._dispatcher.close, 2.0)

    async def wait_for_sync(self, timeout: float | None = None) -> int:
        return await asyncio.wait_for(self._store.sync(self._store.entries[0]), timeout)

    async def status(self) -> ReplicationStatus:
        return ReplicationStatus(
            db_path=str(self.db.path),
            replica=self.replica.name,
            local_txid=self.db.pos().txid,
            replica_txid=self.replica.pos.txid,
        )

    @property
    def txid(self) -> int:
        return self.replica.pos.txid
