"""Many databases replicated by one process, on one event loop.

Each database gets two tasks: its monitor (WAL -> local L0 files) and its replica's
upload loop. Shutdown stops both, then does a last local sync and retries the last
upload until ``shutdown_sync_timeout`` runs out, so a SIGTERM loses nothing that was
committed before it, as long as storage answers in time.

Databases can also be stopped, started, added and removed while the store runs (the
control socket's ``start``, ``stop``, ``register``, ``unregister``); one lock orders
those changes, so two requests for one database never open or close it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from litestream_core.client import ReplicaClient
from litestream_core.config import Config, DBConfig, ReplicaConfig
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.holds import SharedL0
from litestream_core.engine.instrumented import InstrumentedClient
from litestream_core.engine.lease import Lease, supports_lease
from litestream_core.engine.levels import settings_from_config
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.sqlite import files_open_in_process
from litestream_core.engine.stats import OperationStats
from litestream_core.engine.watchdog import Watchdog, sweep_temp_files
from litestream_core.errors import ConfigError, DatabaseError, LitestreamError, describe
from litestream_core.events import Event
from litestream_core.logs import format_seconds, format_txid, replica_type

log = logging.getLogger("litestream.store")

AT_ONCE = 16
"""Databases opened (or closed) concurrently: enough to overlap one's disk and storage
waits with another's work, few enough not to queue thousands of threads' work."""
RELEASE_GRACE = 1.0
"""Seconds lease releases may take when no shutdown time is left (the final upload
used it up, or there was none): released, the next replicator need not wait a TTL."""


@dataclass
class Entry:
    """One database, its replicas and their compactors, and the tasks serving them."""

    db: DB
    replica: Replica | None
    """The first (often the only) replica; None for a database with none."""
    compactor: Compactor | None = None
    """The first replica's compactor."""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    opened: bool = False
    """The database and replicas are open (False before ``open`` and after ``stop_db``)."""
    emit: Callable[[Event], None] | None = None
    """Where the entry's watchdog sends its events (the engine's emit)."""
    locations: tuple[str, ...] = ()
    """Its replicas' URLs (secrets redacted) when known: two databases must not share one."""
    replicas: list[Replica] = field(default_factory=list)
    """Every replica, each uploading on its own (``replica`` is the first)."""
    compactors: list[Compactor] = field(default_factory=list)
    """One per replica that compacts (``compactor`` is the first)."""
    descriptions: list[dict[str, str]] = field(default_factory=list)
    """What the start-up lines say of each replica (no secrets): type, bucket, path..."""

    def __post_init__(self) -> None:
        if not self.replicas and self.replica is not None:
            self.replicas = [self.replica]
        if not self.compactors and self.compactor is not None:
            self.compactors = [self.compactor]
        self.replica = self.replicas[0] if self.replicas else None
        self.compactor = self.compactors[0] if self.compactors else None

    def log_start(self) -> None:
        """The lines saying this database is replicated, and where to (one per replica)."""
        for shown in self.descriptions:
            log.info("replicating database", extra={"db": str(self.db.path), **shown})

    def replicated_txid(self) -> int:
        """The TXID every replica holds (0 without replicas)."""
        return min((r.pos.txid for r in self.replicas), default=0)


EntryFactory = Callable[[DBConfig], Entry]
"""Builds the entry of a database added at run time (registered, or found in a watched
directory) from its settings."""


@dataclass(frozen=True)
class SyncResult:
    """What a forced sync achieved (the control socket's ``/sync`` answer)."""

    txid: int
    replicated_txid: int
    changed: bool


class DatabaseNotOpenError(DatabaseError):
    """The database is registered but stopped."""


class ReplicaURLError(ConfigError):
    """No replica can be made from the URL a database is registered with."""


class Store:
    def __init__(
        self,
        entries: Iterable[Entry] = (),
        *,
        shutdown_sync_timeout: float = 30.0,
        shutdown_sync_interval: float = 0.5,
        make_entry: EntryFactory | None = None,
        operations: OperationStats | None = None,
    ) -> None:
        self.entries = list(entries)
        self.operations = operations or OperationStats()
        """Replica operations of every entry's client (``build_store`` counts them)."""
        self.shutdown_sync_timeout = shutdown_sync_timeout
        self.shutdown_sync_interval = shutdown_sync_interval
        self.make_entry = make_entry
        self.running = False
        """Loops run (``open(run=True)``): databases started later get theirs too."""
        self._opened = False
        self._final: asyncio.Future[list[bool]] | None = None
        self._changes = asyncio.Lock()

    def find(self, path: str | os.PathLike[str]) -> Entry | None:
        """The entry of an absolute database path, or None."""
        wanted = Path(os.path.abspath(path))
        return next((e for e in self.entries if e.db.path == wanted), None)

    async def open(self, *, run: bool = True) -> None:
        """Open every database and replica and start each one's loops as soon as it is
        open (unless ``run`` is False), so the first databases replicate while later
        ones are still opening.

        If one fails to open, those already opened are stopped and closed again, so a
        bad entry never leaves locks or tasks behind.
        """
        opened: list[Entry] = []

        async def probe(entry: Entry) -> None:
            for replica in entry.replicas:
                await replica.probe(take_lease=False)

        async def open_one(entry: Entry) -> None:
            await entry.db.open(open_files)
            opened.append(entry)
            for replica in entry.replicas:
                await replica.start()
            if run:
                self._start_tasks(entry)

        try:
            # Storage first: unreachable storage fails before any database is touched.
            await _each(self.entries, probe)
            # Listed once for all: per database it made opening N databases O(N^2).
            open_files = await asyncio.to_thread(files_open_in_process)
            await _each(self.entries, open_one)
        except BaseException:
            await self._stop_tasks(opened)
            for entry in opened:
                await _quietly(entry.db.close())
            release_by = time.monotonic() + RELEASE_GRACE  # one grace for all of them
            for entry in self.entries:
                for replica in entry.replicas:
                    await _quietly(replica.close(_left(release_by)))
            raise
        for entry in self.entries:
            entry.opened = True
            entry.log_start()
        self._opened = True
        self.running = run

    def _start_tasks(self, entry: Entry) -> None:
        entry.tasks.append(asyncio.create_task(entry.db.monitor(), name=f"monitor {entry.db.path}"))
        for replica in entry.replicas:
            entry.tasks.append(asyncio.create_task(replica.run(), name=f"replica {entry.db.path}"))
        for compactor in entry.compactors:
            entry.tasks.append(
                asyncio.create_task(compactor.run(), name=f"compactor {entry.db.path}")
            )
        # One watchdog per replica; only the first watches the database file too.
        watched: list[Replica | None] = [*entry.replicas] or [None]
        for i, one in enumerate(watched):
            watchdog = Watchdog(entry.db, one, emit=entry.emit, watch_file=i == 0)
            entry.tasks.append(asyncio.create_task(watchdog.run(), name=f"watch {entry.db.path}"))

    @staticmethod
    async def _stop_tasks(entries: Iterable[Entry]) -> None:
        entries = list(entries)
        for entry in entries:
            for task in entry.tasks:
                task.cancel()
        await asyncio.gather(*(t for e in entries for t in e.tasks), return_exceptions=True)
        for entry in entries:
            entry.tasks.clear()

    # -- run-time changes (the control socket) -------------------------------------------

    async def start_db(self, entry: Entry) -> bool:
        """Open a stopped database and start its loops; False if it was running already."""
        async with self._changes:
            self._check_registered(entry)
            if entry.opened:
                return False
            await self._open_entry(entry)
            return True

    async def stop_db(self, entry: Entry, timeout: float | None = None) -> bool:
        """Stop a database's loops, sync it a last time, close it; False if already stopped.

        The replica stays connected, so ``start_db`` can open it again; its lease is
        released (``start_db`` takes it again), since a stopped database writes nothing
        and another replicator should not wait out a TTL for it. Raises if the final
        sync did not complete (the database is closed all the same).
        """
        async with self._changes:
            self._check_registered(entry)
            if not entry.opened:
                return False
            try:
                await self._close_entry(entry, timeout)
            finally:
                for replica in entry.replicas:
                    if replica.lease is not None:
                        await _quietly(replica.lease.release(RELEASE_GRACE))
            return True

    async def register(self, path: str | os.PathLike[str], replica_url: str) -> Entry | None:
        """Add a database and start replicating it; None if it is registered already.

        Raises ReplicaURLError for a URL no backend serves (nothing was opened) and
        the open error otherwise. As in Go, only the URL: no global replica settings
        apply to it.
        """
        replica = ReplicaConfig(url=replica_url, location="register")
        return await self.add(
            DBConfig(path=Path(os.path.abspath(path)), replica=replica, location="register"),
            bad_replica=ReplicaURLError,
        )

    async def add(
        self, dbc: DBConfig, *, bad_replica: type[ConfigError] = ConfigError
    ) -> Entry | None:
        """Add a database from its settings and start replicating it; None if it is
        replicated already. Refused when it would share a meta directory or a replica
        location with another database (each would overwrite the other's files)."""
        if self.make_entry is None:
            raise ConfigError("this store cannot add databases at run time")
        async with self._changes:
            if self.find(dbc.path) is not None:
                return None
            try:
                entry = self.make_entry(dbc)
            except LitestreamError as exc:
                raise bad_replica(exc.one_line()) from exc
            for other in self.entries:
                if (problem := _shared(entry, other)) is not None:
                    raise ConfigError(problem)
            try:
                await self._open_entry(entry)
            except BaseException:
                for replica in entry.replicas:
                    await _quietly(replica.close(RELEASE_GRACE))
                raise
            self.entries.append(entry)
            entry.log_start()
            return entry

    async def unregister(
        self, path: str | os.PathLike[str], timeout: float | None = None
    ) -> Entry | None:
        """Remove a database: stop it (with a final sync) and disconnect its replica.

        None if no such database. The entry is removed even if the final sync fails
        (which is then raised), as Go does.
        """
        async with self._changes:
            entry = self.find(path)
            if entry is None:
                return None
            self.entries.remove(entry)
            try:
                if entry.opened:
                    await self._close_entry(entry, timeout)
            finally:
                for replica in entry.replicas:
                    await _quietly(replica.stop(RELEASE_GRACE))
            return entry

    async def sync_db(self, entry: Entry, *, wait: bool, timeout: float | None) -> SyncResult:
        """Sync one database now: WAL -> L0, and with ``wait`` also L0 -> replicas.

        With ``wait`` it returns once everything committed before the call is on every
        replica. Raises TimeoutError when ``timeout`` runs out first.
        """
        if not entry.opened:
            raise DatabaseNotOpenError(f"database not open: {entry.db.path}")
        before = entry.db.pos().txid

        async def run() -> None:
            await entry.db.sync()
            if not wait:
                return
            done = await asyncio.gather(*(r.try_sync() for r in entry.replicas))
            failed = [r for r, ok in zip(entry.replicas, done, strict=True) if not ok]
            if len(failed) == 1 and len(entry.replicas) == 1:
                raise LitestreamError(f"replica sync: {failed[0].last_error}")
            if failed:
                raise LitestreamError("replica sync: " + "; ".join(
                    f"{r.name}: {r.last_error}" for r in failed))  # fmt: skip

        await asyncio.wait_for(run(), timeout)
        after = entry.db.pos().txid
        return SyncResult(txid=after, replicated_txid=entry.replicated_txid(),
                          changed=after > before)  # fmt: skip

    def _check_registered(self, entry: Entry) -> None:
        """An entry unregistered while a request waited for the lock is gone for good."""
        if not any(e is entry for e in self.entries):
            raise DatabaseError(f"database not found: {entry.db.path}")

    async def _open_entry(self, entry: Entry) -> None:
        for replica in entry.replicas:
            await replica.probe(take_lease=False)
        await entry.db.open()
        try:
            for replica in entry.replicas:
                await replica.start()
        except BaseException:
            await _quietly(entry.db.close())
            raise
        entry.opened = True
        if self.running:
            self._start_tasks(entry)

    async def _close_entry(self, entry: Entry, timeout: float | None) -> None:
        await self._stop_tasks([entry])
        entry.opened = False
        try:
            ok = await asyncio.wait_for(self._final_sync(entry), timeout)
        except TimeoutError:
            ok = False
        finally:
            await _quietly(entry.db.close())
        if not ok:
            raise LitestreamError(f"final sync of {entry.db.path} did not complete")

    async def sync(self, entry: Entry, timeout: float | None = None) -> int:
        """Sync one database now (WAL -> L0 -> replicas); returns the TXID every
        replica holds."""
        await entry.db.sync()
        if not entry.replicas:
            return entry.db.pos().txid
        target = entry.db.pos().txid
        # Every replica gets its pass even when another fails; then the first failure.
        done = await asyncio.wait_for(
            asyncio.gather(*(r.sync() for r in entry.replicas), return_exceptions=True), timeout
        )
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return max(target, entry.replicated_txid())

    async def run_once(
        self, *, force_snapshot: bool = False, enforce_retention: bool = False
    ) -> None:
        """``replicate -once``: per database, sync and upload everything, then what is due.

        As in Go, deleting anything takes ``enforce_retention``. Beyond Go, levels whose
        interval has passed are compacted (that only adds files) and a snapshot is taken
        when forced or due, so a replica fed by a periodic ``-once`` job still restores
        from few files; a first run uploads the database once (``Compactor.run_once``).
        """
        # Leases are renewed on time throughout, as by a daemon's replicas: a first
        # snapshot of a large database outlasts the TTL, and an expired lease refuses
        # the upload that follows.
        keepers = [
            asyncio.create_task(replica.keep_lease(), name=f"lease {entry.db.path}")
            for entry in self.entries for replica in entry.replicas
        ]  # fmt: skip
        try:
            for entry in self.entries:
                for replica in entry.replicas:  # what an earlier, killed run left
                    await sweep_temp_files(str(entry.db.path), replica.client)
                log.info("syncing database", extra={"db": str(entry.db.path)})
                await self.sync(entry)
                for compactor in entry.compactors:
                    await compactor.run_once(
                        force_snapshot=force_snapshot, enforce_retention=enforce_retention
                    )
        finally:
            for keeper in keepers:
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)

    async def close(self, *, final_sync: bool = True) -> bool:
        """Stop every loop, push what is pending (bounded by the timeout), close.

        Returns False if some database could not be fully uploaded in time.
        """
        async with self._changes:
            # The lease releases share the final upload's deadline (plus a grace): on
            # hung storage they must not hold the shutdown past its timeout.
            deadline = time.monotonic() + (self.shutdown_sync_timeout if final_sync else 0.0)
            await self._stop_tasks(self.entries)
            if not self._opened:
                return True
            self._opened = self.running = False
            opened = [e for e in self.entries if e.opened]
            ok = True
            if final_sync:
                self._final = asyncio.ensure_future(
                    asyncio.gather(*(self._final_sync(e) for e in opened))
                )
                await asyncio.wait({self._final})
                try:
                    ok = all(self._final.result())
                except asyncio.CancelledError:  # aborted: the gather's, not ours
                    ok = False

            async def close_one(entry: Entry) -> None:
                entry.opened = False
                await _quietly(entry.db.close())

            async def stop_replica(entry: Entry) -> None:
                for replica in entry.replicas:
                    await _quietly(replica.stop(_left(release_by)))

            release_by = max(deadline, time.monotonic() + RELEASE_GRACE)

            await _each(opened, close_one)
            await _each(self.entries, stop_replica)
            return ok

    def abort_final_sync(self) -> None:
        """Give up the final sync now (a second Ctrl-C); databases still close cleanly."""
        if self._final is not None:
            self._final.cancel()

    async def _final_sync(self, entry: Entry) -> bool:
        try:
            await entry.db.sync()
        except Exception as exc:
            log.error(
                "final sync of the database failed: its last commits are not on the replica",
                extra={"db": str(entry.db.path), "error": describe(exc)},
            )
            return False
        # Each replica on its own: one that cannot be reached does not delay the others.
        done = await asyncio.gather(*(self._final_upload(entry, r) for r in entry.replicas))
        return all(done)

    async def _final_upload(self, entry: Entry, replica: Replica) -> bool:
        if self.shutdown_sync_timeout == 0:  # Go's meaning: one attempt, not bounded
            return await replica.try_sync()
        deadline = time.monotonic() + self.shutdown_sync_timeout
        while True:
            try:
                # Bounded: one upload stuck in a hung storage request must not hold
                # the shutdown past its timeout.
                left = max(deadline - time.monotonic(), 0.001)
                if await asyncio.wait_for(replica.try_sync(), left):
                    return True
            except TimeoutError:
                self._final_sync_late(entry, replica)
                return False
            if time.monotonic() + self.shutdown_sync_interval > deadline:
                self._final_sync_late(entry, replica)
                return False
            await asyncio.sleep(self.shutdown_sync_interval)

    def _final_sync_late(self, entry: Entry, replica: Replica) -> None:
        log.error(
            "final upload did not finish in time: the last commits stay local until the next "
            "start", extra={"db": str(entry.db.path), "replica": replica_type(replica.name),
                            "timeout": format_seconds(self.shutdown_sync_timeout)},
        )  # fmt: skip


_SERVER_KEYS = ("endpoint", "host", "account-name", "webdav-url")
"""Replica options that pick a server rather than a place on it."""


def _shared(entry: Entry, other: Entry) -> str | None:
    """Why two databases cannot be replicated side by side, or None."""
    if other.db.meta_path == entry.db.meta_path:
        return (f"{entry.db.path} and {other.db.path} would share the meta directory "
                f"{entry.db.meta_path}")  # fmt: skip
    if both := sorted(set(entry.locations) & set(other.locations)):
        return (f"{entry.db.path} and {other.db.path} would share the replica "
                f"{both[0]}")  # fmt: skip
    return None


async def _each(entries: list[Entry], work: Callable[[Entry], Awaitable[None]]) -> None:
    """``work`` on every entry, ``AT_ONCE`` at a time; on the first failure the rest
    is cancelled and the failure of the earliest entry (in config order) is raised."""
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(entry: Entry) -> None:
        async with gate:
            await work(entry)

    tasks = [asyncio.ensure_future(one(entry)) for entry in entries]
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


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
        "max_sync_wal_bytes": dbc.max_sync_wal_bytes,
        "allow_app_checkpoints": dbc.allow_app_checkpoints or None,
    }
    return DBSettings(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


def replica_settings(dbc: DBConfig, rc: ReplicaConfig | None = None) -> ReplicaSettings:
    """The engine settings of a replica block (``rc``; the database's first by default)."""
    rc = rc if rc is not None else dbc.replica
    defaults = ReplicaSettings()
    if rc is None:
        return defaults
    return ReplicaSettings(
        sync_interval=rc.sync_interval if rc.sync_interval is not None else defaults.sync_interval,
        stall_warning=(
            rc.stall_warning if rc.stall_warning is not None else defaults.stall_warning
        ),
        max_sync_ltx_files=(
            rc.max_sync_ltx_files
            if rc.max_sync_ltx_files is not None
            else defaults.max_sync_ltx_files
        ),
        catch_up_window=(
            rc.catch_up_window if rc.catch_up_window is not None else defaults.catch_up_window
        ),
    )


def build_store(
    config: Config,
    *,
    pm: pluggy.PluginManager | None = None,
    emit: Callable[[Event], None] | None = None,
    lease_fail: bool = False,
) -> Store:
    """Databases, clients and replicas for a config (no I/O yet).

    ``lease_fail`` (``replicate -lease-fail``): a replica leased by another live
    replicator is an error at start instead of a wait.
    """
    from dataclasses import replace

    from litestream_core.plugins import get_plugin_manager, page_codecs, replica_description

    pm = pm if pm is not None else get_plugin_manager()
    operations = OperationStats()

    compaction = settings_from_config(config)

    def entry(dbc: DBConfig) -> Entry:
        write = dbc.replica.compression if dbc.replica and dbc.replica.compression else "lz4"
        codecs = page_codecs(pm, write)
        db = DB(dbc.path, replace(db_settings(dbc), page_codecs=codecs), emit=emit)
        if dbc.replica is None:
            return Entry(db, None, emit=emit)
        # Each replica uploads the database's L0 files on its own; with several, a
        # file stays until all of them hold it (engine.holds).
        shared = SharedL0(db) if len(dbc.replicas) > 1 else None
        replicas, compactors, locations = [], [], []
        descriptions: list[dict[str, str]] = []
        for rc in dbc.replicas:
            url, options = rc.replica_url()
            client = InstrumentedClient(rc.make_client(pm), operations)
            # A lone replica is named by its URL in events, as before names existed.
            name = rc.display_name if rc.name or shared else url.redacted()
            lease = _lease(config, client, db, name, lease_fail)
            replicas.append(Replica(db, client, replica_settings(dbc, rc), name=name, emit=emit,
                                    shared=shared, lease=lease))  # fmt: skip
            compactors.append(Compactor(client, compaction, db=db, emit=emit,
                                        db_path=str(db.path), codecs=codecs,
                                        replica_name=name, lease=lease,
                                        stats=db.stats))  # fmt: skip
            # Where the replica is, as precisely as the config says: the same bucket
            # and path on two different servers are two places.
            server = [str(options[k]) for k in _SERVER_KEYS if options.get(k)]
            location = " at ".join([url.redacted(), *server])
            if location in locations:
                raise ConfigError(f"{rc.location}: two replicas of {db.path} at {location}")
            locations.append(location)
            shown = replica_description(pm, url, options)
            shown["sync-interval"] = f"{replicas[-1].settings.sync_interval:g}s"
            if rc.name or shared:
                # One of several: named as in every other line, with its type beside.
                shown = {"replica": rc.display_name, "type": shown["replica"],
                         **{k: v for k, v in shown.items() if k != "replica"}}  # fmt: skip
            descriptions.append(shown)
        return Entry(db, None, emit=emit, replicas=replicas, compactors=compactors,
                     locations=tuple(locations), descriptions=descriptions)  # fmt: skip

    from litestream_core.engine.dirs import expand

    configs = list(config.dbs)
    for directory in config.dirs:
        found = expand(directory)
        where = {"dir": str(directory.dir), "databases": len(found), "watch": directory.watch}
        log.info("found databases in a directory", extra=where)
        configs += [directory.database(path) for path in found]
    entries: list[Entry] = []
    by_meta: dict[Path, Entry] = {}
    by_replica: dict[str, Entry] = {}
    for dbc in configs:
        new = entry(dbc)
        # Two databases in one meta directory or replica would mix their files (Go
        # checks the meta directories of a directory's databases).
        other = by_meta.get(new.db.meta_path)
        for location in new.locations:
            other = other or by_replica.get(location)
        if other is not None:
            problem = _shared(new, other) or ""
            if other.db.path == new.db.path:
                problem = f"database listed twice: {new.db.path}"
            raise ConfigError(f"{dbc.location}: {problem}; give one of them its own "
                              "meta-path or replica path")  # fmt: skip
        by_meta[new.db.meta_path] = new
        for location in new.locations:
            by_replica[location] = new
        entries.append(new)
    return Store(
        entries,
        shutdown_sync_timeout=config.shutdown_sync_timeout,
        shutdown_sync_interval=config.shutdown_sync_interval,
        make_entry=entry,
        operations=operations,
    )


_UNLEASED: set[str] = set()
"""Client kinds already warned about: one warning per kind and process."""


def _lease(config: Config, client: ReplicaClient, db: DB, where: str, fail: bool) -> Lease | None:
    if not config.lease.enabled:
        return None
    if not supports_lease(client):
        kind = f"{type(client).__name__} ({client.type})"
        if kind not in _UNLEASED:
            _UNLEASED.add(kind)
            log.warning(
                "these replicas cannot be leased (no atomic create): two replicators on one "
                "replica path are not kept apart", extra={"client": kind},
            )  # fmt: skip
        return None
    return Lease(client, database=str(db.path), where=where, ttl=config.lease.ttl,
                 fail_fast=fail)  # fmt: skip


async def restore_missing(
    store: Store, config: Config, *, force_all: bool = False,
    emit: Callable[[Event], None] | None = None,
) -> None:  # fmt: skip
    """Restore databases that do not exist yet from their replica (``restore-if-db-not-exists``).

    An empty replica is not an error: the database is new and replication starts it.
    """
    wanted = {d.path for d in config.dbs if d.restore_if_db_not_exists or force_all}
    if not wanted:
        return
    # The restore side of the engine is loaded only for a database to restore: a
    # replicator keeps what it imports resident for its whole life.
    from litestream_core.engine.choose import choose_replica
    from litestream_core.engine.plan import NoBackupsError
    from litestream_core.engine.restore import restore

    for entry in store.entries:
        if entry.db.path not in wanted or entry.replica is None or entry.db.path.exists():
            continue
        clients = {r.name: r.client for r in entry.replicas}
        try:
            name, plan = await choose_replica(clients)
            result = await restore(
                clients[name], entry.db.path, plan=plan, integrity_check="quick", emit=emit,
                codecs=entry.db.settings.page_codecs,
                meta_path=entry.db.meta_path,  # its lock, and where its database ID goes
            )  # fmt: skip
        except NoBackupsError:
            log.info("no backup to restore; starting a new database",
                     extra={"db": str(entry.db.path)})  # fmt: skip
            continue
        where = {"replica": name} if len(clients) > 1 else {}
        log.info("restored the database from its replica", extra={
            "db": str(entry.db.path), **where, "txid": format_txid(result.txid)})  # fmt: skip
