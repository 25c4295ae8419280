"""Many databases replicated by one process, on one event loop.

Each database gets two tasks: its monitor (WAL -> local L0 files) and its replica's
upload loop. Shutdown stops both, then does a last local sync and retries the last
upload until ``shutdown_sync_timeout`` runs out, so a SIGTERM loses nothing that was
committed before it, as long as storage answers in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from litestream_core.config import Config, DBConfig
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.plan import NoBackupsError
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.restore import restore
from litestream_core.errors import ConfigError
from litestream_core.events import Event

log = logging.getLogger("litestream.store")


@dataclass
class Entry:
    """One database, its (optional) replica and compactor, and the tasks serving them."""

    db: DB
    replica: Replica | None
    compactor: Compactor | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Store:
    def __init__(
        self,
        entries: Iterable[Entry] = (),
        *,
        shutdown_sync_timeout: float = 30.0,
        shutdown_sync_interval: float = 0.5,
    ) -> None:
        self.entries = list(entries)
        self.shutdown_sync_timeout = shutdown_sync_timeout
        self.shutdown_sync_interval = shutdown_sync_interval
        self._opened = False
        self._final: asyncio.Future[list[bool]] | None = None

    async def open(self, *, run: bool = True) -> None:
        """Open every database and replica, then start their loops (unless ``run`` is False).

        If one fails to open, those already opened are closed again, so a bad entry
        never leaves locks or tasks behind.
        """
        opened: list[Entry] = []
        try:
            # Storage first: unreachable storage fails before any database is touched.
            for entry in self.entries:
                if entry.replica is not None:
                    await entry.replica.probe()
            for entry in self.entries:
                await entry.db.open()
                opened.append(entry)
                if entry.replica is not None:
                    await entry.replica.start()
        except BaseException:
            for entry in opened:
                await _quietly(entry.db.close())
            for entry in self.entries:
                if entry.replica is not None:
                    await _quietly(entry.replica.client.close())
            raise
        self._opened = True
        if not run:
            return
        for entry in self.entries:
            entry.tasks.append(
                asyncio.create_task(entry.db.monitor(), name=f"monitor {entry.db.path}")
            )
            if entry.replica is not None:
                entry.tasks.append(
                    asyncio.create_task(entry.replica.run(), name=f"replica {entry.db.path}")
                )
            if entry.compactor is not None:
                entry.tasks.append(
                    asyncio.create_task(entry.compactor.run(), name=f"compactor {entry.db.path}")
                )

    async def sync(self, entry: Entry, timeout: float | None = None) -> int:
        """Sync one database now (WAL -> L0 -> replica); returns the replicated TXID."""
        await entry.db.sync()
        if entry.replica is None:
            return entry.db.pos().txid
        target = entry.db.pos().txid
        await asyncio.wait_for(entry.replica.sync(), timeout)
        return max(target, entry.replica.pos.txid)

    async def run_once(
        self, *, force_snapshot: bool = False, enforce_retention: bool = False
    ) -> None:
        """``replicate -once``: per database, sync and upload everything, then what is due.

        As in Go, deleting anything takes ``enforce_retention``. Beyond Go, levels whose
        interval has passed are compacted (that only adds files) and a snapshot is taken
        when forced or due, so a replica fed by a periodic ``-once`` job still restores
        from few files; a first run uploads the database once (``Compactor.run_once``).
        """
        for entry in self.entries:
            log.info("syncing database %s", entry.db.path)
            await self.sync(entry)
            if entry.compactor is not None:
                await entry.compactor.run_once(
                    force_snapshot=force_snapshot, enforce_retention=enforce_retention
                )

    async def close(self, *, final_sync: bool = True) -> bool:
        """Stop every loop, push what is pending (bounded by the timeout), close.

        Returns False if some database could not be fully uploaded in time.
        """
        for entry in self.entries:
            for task in entry.tasks:
                task.cancel()
        await asyncio.gather(*(t for e in self.entries for t in e.tasks), return_exceptions=True)
        for entry in self.entries:
            entry.tasks.clear()
        if not self._opened:
            return True
        self._opened = False
        ok = True
        if final_sync:
            self._final = asyncio.ensure_future(
                asyncio.gather(*(self._final_sync(e) for e in self.entries))
            )
            await asyncio.wait({self._final})
            try:
                ok = all(self._final.result())
            except asyncio.CancelledError:  # aborted: the gather's, not ours
                ok = False
        for entry in self.entries:
            await _quietly(entry.db.close())
            if entry.replica is not None:
                await _quietly(entry.replica.stop())
        return ok

    def abort_final_sync(self) -> None:
        """Give up the final sync now (a second Ctrl-C); databases still close cleanly."""
        if self._final is not None:
            self._final.cancel()

    async def _final_sync(self, entry: Entry) -> bool:
        try:
            await entry.db.sync()
        except Exception as exc:
            log.error("%s: final local sync failed: %s", entry.db.path, exc)
            return False
        if entry.replica is None:
            return True
        deadline = time.monotonic() + self.shutdown_sync_timeout
        while True:
            try:
                # Bounded: one upload stuck in a hung storage request must not hold
                # the shutdown past its timeout.
                left = max(deadline - time.monotonic(), 0.001)
                if await asyncio.wait_for(entry.replica.try_sync(), left):
                    return True
            except TimeoutError:
                log.error("%s: final sync to replica did not finish in time", entry.db.path)
                return False
            if time.monotonic() + self.shutdown_sync_interval > deadline:
                log.error("%s: final sync to replica did not finish in time", entry.db.path)
                return False
            await asyncio.sleep(self.shutdown_sync_interval)


async def _quietly(aw: object) -> None:
    with contextlib.suppress(Exception):
        await aw  # type: ignore[misc]


def db_settings(dbc: DBConfig) -> DBSettings:
    """The engine settings a ``dbs:`` entry asks for; unset keys keep Go's defaults."""
    values: dict[str, object] = {
        "monitor_interval": dbc.monitor_interval,
        "checkpoint_interval": dbc.checkpoint_interval,
        "min_checkpoint_page_count": dbc.min_checkpoint_page_count,
        "truncate_page_n": dbc.truncate_page_n,
        "busy_timeout": dbc.busy_timeout,
        "meta_path": dbc.meta_path,
    }
    return DBSettings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


def replica_settings(dbc: DBConfig) -> ReplicaSettings:
    rc = dbc.replica
    defaults = ReplicaSettings()
    if rc is None:
        return defaults
    return ReplicaSettings(
        sync_interval=rc.sync_interval if rc.sync_interval is not None else defaults.sync_interval,
        max_sync_ltx_files=(
            rc.max_sync_ltx_files
            if rc.max_sync_ltx_files is not None
            else defaults.max_sync_ltx_files
        ),
    )


def build_store(
    config: Config,
    *,
    pm: pluggy.PluginManager | None = None,
    emit: Callable[[Event], None] | None = None,
) -> Store:
    """Databases, clients and replicas for a config (no I/O yet)."""
    from litestream_core.plugins import make_replica_client

    compaction = CompactionSettings(
        level_intervals=config.levels,
        snapshot_interval=config.snapshot_interval,
        snapshot_retention=config.snapshot_retention,
        l0_retention=config.l0_retention,
        l0_retention_check_interval=config.l0_retention_check_interval,
        retention_enabled=config.retention_enabled,
    )
    entries: list[Entry] = []
    metas: dict[Path, Path] = {}
    for dbc in config.dbs:
        db = DB(dbc.path, db_settings(dbc), emit=emit)
        # Two databases in one meta directory would mix their L0 files (Go checks too).
        if (other := metas.setdefault(db.meta_path, db.path)) != db.path:
            raise ConfigError(
                f"{dbc.location}: {db.path} and {other} would share the meta directory "
                f"{db.meta_path}; give one of them its own meta-path"
            )
        replica = compactor = None
        if dbc.replica is not None:
            url, options = dbc.replica.replica_url()
            client = make_replica_client(url, options, pm=pm)
            replica = Replica(db, client, replica_settings(dbc), name=url.redacted(), emit=emit)
            compactor = Compactor(client, compaction, db=db, emit=emit, db_path=str(db.path))
        entries.append(Entry(db, replica, compactor))
    return Store(
        entries,
        shutdown_sync_timeout=config.shutdown_sync_timeout,
        shutdown_sync_interval=config.shutdown_sync_interval,
    )


async def restore_missing(
    store: Store, config: Config, *, force_all: bool = False,
    emit: Callable[[Event], None] | None = None,
) -> None:  # fmt: skip
    """Restore databases that do not exist yet from their replica (``restore-if-db-not-exists``).

    An empty replica is not an error: the database is new and replication starts it.
    """
    wanted = {d.path for d in config.dbs if d.restore_if_db_not_exists or force_all}
    for entry in store.entries:
        if entry.db.path not in wanted or entry.replica is None or entry.db.path.exists():
            continue
        client = entry.replica.client
        await client.init()
        try:
            result = await restore(client, entry.db.path, integrity_check="quick", emit=emit)
        except NoBackupsError:
            log.info("%s: no backup to restore; starting a new database", entry.db.path)
            continue
        log.info("%s: restored from replica at TXID %016x", entry.db.path, result.txid)
