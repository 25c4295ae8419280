"""Shipping a database's local L0 files to its replica, in order, with no gap.

The replica keeps its own idea of the remote position (TXID and post-apply checksum
of the newest file on storage). Each pass uploads the local files that continue that
position exactly; anything else is answered with a snapshot:

* remote behind and the local files that would fill the gap are gone (new or wiped
  replica, files already cleaned up): upload a full L9 snapshot of the database at the
  local position, then continue with L0 files from there;
* a local file that does not continue the remote chain (its pre-apply checksum is not
  the remote post-apply checksum): the same;
* remote ahead of local state (database restored and replicated again, meta directory
  deleted): ask the database to rebase on the remote position, so its next L0 file is
  a full copy at the next TXID.

So a restore can always reach every TXID the replica acknowledged, and never reads a
page from a history that does not lead to the current database.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from litestream_core.client import (
    SNAPSHOT_LEVEL,
    LTXFileInfo,
    ReplicaClient,
    SupportsLevelListing,
)
from litestream_core.engine.dbtypes import Pos
from litestream_core.engine.direct import DirectUpload, continues
from litestream_core.engine.failures import FailureReporter
from litestream_core.engine.holds import DEFAULT_CATCH_UP_WINDOW
from litestream_core.engine.identity import (
    ReplicaIdentity,
    check_replica,
    claim_replica,
    note_first_upload,
    read_identity,
    take_over,
)
from litestream_core.engine.lease import Lease
from litestream_core.engine.retry import Backoff
from litestream_core.engine.streams import (
    SMALL_FILE,
    as_direct_writer,
    download,
    local_file_data,
    read_remote_trailer,
)
from litestream_core.errors import (
    LTXError,
    ReplicaClientError,
    ReplicaOwnedError,
    TransientReplicaError,
)
from litestream_core.events import (
    Event,
    LTXFileUploaded,
    ReplicaStarted,
    ReplicaStopped,
    SnapshotWritten,
    SyncFailed,
    SyncRecovered,
)
from litestream_core.logs import format_seconds, format_txid, replica_type
from litestream_core.ltx import HEADER_SIZE, TRAILER_SIZE, Header, Trailer, verify_file

if TYPE_CHECKING:
    from litestream_core.compression import PageCodecs
    from litestream_core.engine.db import DB
    from litestream_core.engine.holds import SharedL0

log = logging.getLogger("litestream.replica")

IDENTITY_RECHECK = 60.0
"""Seconds between reads of the replica identity while replicating: a replica taken
over by another database (``reset -takeover``) stops this one within about a minute."""

PROBE_PATIENCE = 10.0
"""Seconds a replica may fail transiently at start before replicate gives up."""

NEWEST_L0_KEPT = 256 << 10
"""Bytes of the newest local L0 file kept in memory for its upload: a sync's file is
usually a few KiB; a larger one (a snapshot, a burst) is read back from disk."""


@dataclass(frozen=True)
class ReplicaSettings:
    sync_interval: float = 1.0
    """Minimum gap between upload passes; a new local file wakes the loop."""
    max_sync_ltx_files: int = 256
    """L0 files uploaded per batch before local cleanup runs (0 = no limit)."""
    backoff: Backoff = field(default_factory=Backoff)
    stall_warning: float = 60.0
    """Seconds the replica may stay behind its database without advancing before a
    warning is logged (``engine.watchdog``); 0 turns the warning off."""
    catch_up_window: float = DEFAULT_CATCH_UP_WINDOW
    """With several replicas: seconds local L0 files wait for this replica while it is
    behind (``engine.holds``)."""


class Replica:
    """One database's replica: a client plus the upload loop and its position."""

    def __init__(
        self,
        db: DB,
        client: ReplicaClient,
        settings: ReplicaSettings | None = None,
        *,
        name: str = "",
        emit: Callable[[Event], None] | None = None,
        shared: SharedL0 | None = None,
        lease: Lease | None = None,
    ) -> None:
        """``shared``: the database's local files when it has several replicas (each
        then removes only what all of them hold); None for a database's only replica."""
        self.db = db
        self.lease = lease
        """The replica's lease (``engine.lease``); None: not leased (disabled, or the
        backend has no atomic create)."""
        self._lease_epoch = 0
        """``lease.acquired`` when the position was last read: a new take reads again."""
        self._foreign = False
        """The lease was taken over from another database's replicator: its identity
        is taken over too, and the replica continues from a fresh snapshot."""
        self._fresh = False
        self.client = client
        self.settings = settings or ReplicaSettings()
        self.name = name or client.type
        self._shared = shared
        self._changed = (
            db.changed if shared is None else shared.join(self.name, self.settings.catch_up_window)
        )
        self._emit = emit
        self._reporter = FailureReporter(log, emit, db_path=str(db.path), replica=self.name)
        self._pos: Pos | None = None
        self._probed: RemoteState | None = None
        self._failures = 0
        self._synced_at: datetime | None = None
        self.last_error: str | None = None
        """Why the latest pass failed; None once one succeeds."""
        self._lock = asyncio.Lock()
        self._advanced = asyncio.Condition()
        self.identity: ReplicaIdentity | None = None
        """The replica's identity, naming this database (claimed by ``start``)."""
        self._started = False
        self._seen: ReplicaIdentity | None = None
        """What the last probe found (None: no identity yet)."""
        self._identity_read_at = float("-inf")
        db.keep_newest_l0(NEWEST_L0_KEPT)
        self._direct_writer = as_direct_writer(client) if shared is None else None
        if self._direct_writer is not None:
            db.direct_upload = self.direct_pass

    @property
    def pos(self) -> Pos:
        """The newest position known to be on the replica (Pos(0, 0) before the first look)."""
        return self._pos or Pos(0, 0)

    @property
    def last_synced_at(self) -> datetime | None:
        """When the replica last held every local file (for heartbeats and the control
        socket's ``list``); None before the first pass.

        An idle database makes no upload pass (there is nothing to upload), and is not
        stale for that: a healthy replica that holds the database's position is
        counted as synced once per sync interval, as a pass finding nothing would.
        """
        if self._synced_at is None:
            return None
        if not self._failures and self._pos is not None and self._pos.txid >= self.db.pos().txid:
            now = datetime.now(UTC)
            if (now - self._synced_at).total_seconds() >= self.settings.sync_interval:
                self._synced_at = now
        return self._synced_at

    @last_synced_at.setter
    def last_synced_at(self, value: datetime | None) -> None:
        self._synced_at = value

    @property
    def acknowledged_txid(self) -> int | None:
        """The replica's TXID as last confirmed; None while it is being looked up again."""
        return None if self._pos is None else self._pos.txid

    def _fields(self, **more: object) -> dict[str, object]:
        """The fields naming this database and replica in a log line."""
        return {"db": str(self.db.path), "replica": replica_type(self.name), **more}

    def emit(self, event: Event) -> None:
        if self._emit is not None:
            self._emit(event)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and reconcile with the remote position before the first local sync.

        Reconciling first matters when the replica is ahead: the database must rebase
        before it writes its first L0 file, or that file would repeat remote TXIDs.
        """
        async with self._lock:
            state = self._probed or await self.probe()
            self._started = True
            if self.lease is not None and not self.lease.held:
                self._probed = None  # waiting for the lease: the sync loop takes it
                self.emit(ReplicaStarted(db_path=str(self.db.path), replica=self.name))
                return
            try:
                await self._claim(self._seen)
            except ReplicaClientError as exc:
                # Storage hiccups at start must not stop the replicator: nothing is
                # uploaded before the claim, which the next pass makes (sync).
                log.warning("claim of the replica deferred; the next sync retries",
                            extra=self._fields(error=exc.one_line()))  # fmt: skip
            await self._reconcile(state)
            self._probed = None
        self.emit(ReplicaStarted(db_path=str(self.db.path), replica=self.name))

    async def probe(self, *, take_lease: bool = True) -> RemoteState:
        """Connect and read the candidates for the remote position, with their checksums.

        Called before the database is opened, so unreachable or unreadable storage is
        reported before anything touches the database; ``start`` reuses the answer.
        ``take_lease`` False (before the database opens): a leased replica is only
        checked, not leased, so a start that fails leaves the replica untouched;
        ``start`` then takes the lease and reads the position under it.
        A transient failure (a dropped connection, a 5xx) is retried for
        ``PROBE_PATIENCE`` seconds first: one lost connection at boot must not stop
        the daemon, while storage that stays away is still a clear error at start.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_PATIENCE
        attempt = 0
        while True:
            try:
                return await self._probe_once(take_lease)
            except TransientReplicaError as exc:
                attempt += 1
                delay = self.settings.backoff.delay(attempt)
                if loop.time() + delay > deadline:
                    raise
                log.warning(
                    "the replica is not reachable at start; retrying",
                    extra=self._fields(error=exc.one_line(), retry_in=format_seconds(delay)),
                )
                await asyncio.sleep(delay)

    async def _probe_once(self, take_lease: bool) -> RemoteState:
        await self.client.init()
        # Before start (the database not opened yet) only a check: a bad database must
        # not claim the replica. Once started, the claim is written as needed.
        try:
            self._seen = await check_replica(
                self.client, self.db.path, self.db.meta_path, self.name
            )
            self._foreign = False
        except ReplicaOwnedError:
            # Another database's replica: refused as before, unless that database's
            # replicator holds (or held, unreleased) the lease, which this one then waits
            # for, and takes over with the replica once it is released or stale.
            lease = self.lease
            if lease is None or not (
                (lease.owned and lease.previous is not None) or await lease.contended()
            ):
                raise
            self._seen, self._foreign = None, True
        if self.lease is not None and not take_lease:
            await self.lease.refuse_if_held()  # -lease-fail: refused before the open
            self._probed = None  # read under the lease by start
            return RemoteState(lower=None, snapshot=None)
        if self.lease is not None:
            if not await self.lease.attempt():
                self._probed = RemoteState(lower=None, snapshot=None)
                return self._probed  # another replicator writes here: nothing to read yet
            self._lease_epoch = self.lease.acquired
            if self._foreign and self.lease.previous is None:
                await self.lease.release()
                self._seen = await check_replica(  # raises: the other database's again
                    self.client, self.db.path, self.db.meta_path, self.name
                )
                self._foreign = False
        self._identity_read_at = time.monotonic()
        if self._started:
            await self._claim(self._seen)
        lower: LTXFileInfo | None = None
        snapshot: LTXFileInfo | None = None
        for level in await self._levels_to_probe():
            async for info in self.client.ltx_files(level):
                if level == SNAPSHOT_LEVEL:
                    if snapshot is None or info.max_txid > snapshot.max_txid:
                        snapshot = info
                elif lower is None or info.max_txid > lower.max_txid:
                    lower = info
        found = RemoteState(
            lower=await self._with_pos(lower), snapshot=await self._with_pos(snapshot)
        )
        self._probed = found
        return found

    async def _levels_to_probe(self) -> list[int]:
        """Levels 0 to 9, or only those the backend says exist (one request, not ten)."""
        levels = range(SNAPSHOT_LEVEL + 1)
        if isinstance(self.client, SupportsLevelListing):
            present = set(await self.client.ltx_levels())
            return [level for level in levels if level in present]
        return list(levels)

    async def _with_pos(self, info: LTXFileInfo | None) -> tuple[LTXFileInfo, Pos] | None:
        if info is None:
            return None
        trailer = await read_remote_trailer(self.client, info)
        return info, Pos(info.max_txid, trailer.post_apply_checksum)

    async def run(self) -> None:
        """Upload whenever the database writes a file, until cancelled; never raises."""
        if self.lease is None:
            await self._upload_loop()
            return
        async with asyncio.TaskGroup() as group:
            group.create_task(self._keep_lease(self.lease), name=f"lease {self.db.path}")
            group.create_task(self._upload_loop(), name=f"uploads {self.db.path}")

    async def keep_lease(self) -> None:
        """Renew the lease on time until cancelled (``replicate -once``, whose work is
        not ``run``); returns at once for a replica without a lease."""
        if self.lease is not None:
            await self._keep_lease(self.lease)

    async def _keep_lease(self, lease: Lease) -> None:
        """Renew the lease on time even while one upload outlasts its TTL or the
        database is idle (the upload loop wakes only for new local files), and wake
        the upload loop regularly while another replicator holds it."""
        while True:
            await asyncio.sleep(lease.renew_interval)
            if lease.owned:
                with contextlib.suppress(Exception):  # renewal failures are logged
                    await lease.attempt()
            else:
                self._changed.set()  # a pass tries to take it (and says who holds it)

    async def _upload_loop(self) -> None:
        last = float("-inf")
        while True:
            if self._failures:
                # New local files must not cut the backoff short during an outage.
                await asyncio.sleep(self.settings.backoff.delay(self._failures))
            else:
                # A new local file wakes the loop; otherwise a pass every sync interval,
                # which costs no I/O when nothing is new (it only records that the
                # replica is current, which the heartbeat checks).
                # Only a new local file gives this loop work (failures take the branch
                # above): no timed wake-ups for a database with nothing new.
                await self._changed.wait()
                # The monitor already spaces files a monitor interval apart; holding
                # uploads back a whole sync interval on top of that put commits up to
                # two intervals behind. Only what the sync interval asks beyond it waits.
                hold = self.settings.sync_interval - self.db.settings.monitor_interval
                gap = hold - (time.monotonic() - last)
                if gap > 0:
                    await asyncio.sleep(gap)
            self._changed.clear()
            last = time.monotonic()
            await self.try_sync()

    async def try_sync(self) -> bool:
        """One upload pass that reports failures as events instead of raising."""
        try:
            await self.sync()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failures += 1
            self._pos = None  # unknown after a failure: look again next time
            failure = self._reporter.report(
                exc, operation="upload", attempt=self._failures, event=SyncFailed
            )
            self.last_error = failure.error
            return False
        self._synced_at, self.last_error = datetime.now(UTC), None
        if self._failures:
            self.emit(
                SyncRecovered(db_path=str(self.db.path), replica=self.name,
                              failures=self._failures)
            )  # fmt: skip
            self._failures = 0
        return True

    async def stop(self, release_timeout: float | None = None) -> None:
        self.emit(ReplicaStopped(db_path=str(self.db.path), replica=self.name))
        await self.close(release_timeout)

    async def close(self, release_timeout: float | None = None) -> None:
        """Release the lease (waiting at most ``release_timeout``, None: no limit; the
        store passes its shutdown deadline, as hung storage must not hold a shutdown)
        and disconnect."""
        if self.lease is not None:
            await self.lease.release(release_timeout)
        await self.client.close()

    async def wait_for_txid(self, txid: int, timeout: float | None = None) -> None:
        """Wait until the replica holds ``txid``; TimeoutError otherwise."""

        async def reached() -> None:
            async with self._advanced:
                await self._advanced.wait_for(lambda: self.pos.txid >= txid)

        await asyncio.wait_for(reached(), timeout)

    # -- the direct path (engine.direct) -------------------------------------------------

    @contextlib.asynccontextmanager
    async def direct_pass(self) -> AsyncIterator[DirectUpload | None]:
        """Around one sync of the monitor: a claim that lets its thread upload the
        file it writes (``engine.direct``), or None when this replica's own pass must.

        The claim holds the pass lock, so no pass of ours runs meanwhile; once the
        block ends, the position advances to what was stored.
        """
        lease, identity = self.lease, self.identity
        if (
            self._direct_writer is None
            or self._lock.locked()
            or self._failures
            or self._pos is None
            or identity is None
            or identity.first_file is None  # noted by the replica's pass (a write)
            or self.settings.sync_interval > self.db.settings.monitor_interval
            or time.monotonic() - self._identity_read_at >= IDENTITY_RECHECK
            or (lease is not None and (lease.renewal_due or lease.acquired != self._lease_epoch))
        ):
            yield None
            return
        async with self._lock:
            claim = DirectUpload(self._direct_writer, self._pos, lease)
            try:
                yield claim
            finally:  # stored is stored, whatever failed after it
                if claim.uploaded is not None and claim.stored is not None:
                    await self._direct_done(claim.stored, claim.uploaded)

    async def _direct_done(self, stored: LTXFileInfo, pos: Pos) -> None:
        """The loop's part of a direct upload: the event, then the position."""
        self.emit(
            LTXFileUploaded(
                db_path=str(self.db.path), replica=self.name, level=0,
                min_txid=stored.min_txid, max_txid=stored.max_txid, size=stored.size,
            )
        )  # fmt: skip
        await self._advance(pos)
        self._synced_at, self.last_error = datetime.now(UTC), None

    # -- one pass ----------------------------------------------------------------------

    async def sync(self) -> None:
        """Upload every local L0 file the replica lacks (raises on failure)."""
        async with self._lock:
            if self.lease is not None:
                if not await self.lease.attempt():
                    self._pos = None  # read the position again once the lease is ours
                    if self.lease.owned:
                        self.lease.check()  # ours, but renewals fail: a failed pass
                    return  # another replicator writes here: wait
                if self.lease.acquired != self._lease_epoch:
                    self._pos = None  # taken (again): the replica may have moved meanwhile
            if self._pos is None:
                state = await self.probe()
                if self.lease is not None and not self.lease.held:
                    return
                await self._reconcile(state)
                self._probed = None
            elif time.monotonic() - self._identity_read_at >= IDENTITY_RECHECK:
                await self._check_identity()
            if self.identity is None:  # the claim at start failed: never upload without
                await self._claim(
                    await check_replica(self.client, self.db.path, self.db.meta_path, self.name)
                )
            while await self._upload_batch():
                pass

    async def _upload_batch(self) -> bool:
        """Upload up to one batch; True if more may be pending."""
        pos, local = self.pos, self.db.pos()
        if local.txid < pos.txid or (local.txid == pos.txid and _diverged(local, pos)):
            if local.txid == 0 and pos.txid == 0:
                return False
            await self._rebase(pos, "remote is ahead of or diverged from local state")
            return False
        if local.txid == pos.txid:
            return False

        # Only files the database has acknowledged: one beyond its position is left
        # over from a failed sync (renamed, then the directory fsync failed) and will
        # be rewritten under the same TXID with more commits.
        pending = [f for f in self.db.local_ltx_files(0) if pos.txid < f.max_txid <= local.txid]
        if not pending:
            await self._upload_snapshot(
                self._dropped_reason()
                or f"no local file continues the replica at TXID {pos.txid:016x}"
            )
            return True
        limit = self.settings.max_sync_ltx_files or len(pending)
        uploaded = 0
        for info in pending[:limit]:
            try:
                if (kept := self.db.newest_l0(info)) is not None:
                    header, trailer, data = _framed(kept)
                else:
                    header, trailer, data = await asyncio.to_thread(
                        _verified, self._local_path(info), self.db.settings.page_codecs
                    )
            except LTXError as exc:
                log.warning("local LTX file is damaged; uploading a full snapshot instead",
                            extra=self._fields(file=info.name, error=str(exc)))  # fmt: skip
                await self._upload_snapshot(f"local LTX file {info.name} is corrupt")
                return True
            if not continues(pos, info, header):
                await self._upload_snapshot(
                    self._dropped_reason()
                    or f"local files do not continue the replica at TXID {pos.txid:016x}"
                )
                return True
            await self._upload_file(info, data)
            if self.identity is not None and self.identity.first_file is None:
                self.identity = await note_first_upload(self.client, self.identity, info, trailer)
            pos = Pos(info.max_txid, trailer.post_apply_checksum)
            await self._advance(pos)
            uploaded += 1
        if self._shared is None:
            self.db.forget_newest_l0(pos.txid)  # (several replicas: the next sync replaces it)
            await self.db.remove_ltx_files(0, pos.txid)
        else:
            await self._shared.release(self.name, pos.txid)
        return uploaded == limit and len(pending) > limit

    def _dropped_reason(self) -> str | None:
        """Why a snapshot is due if local files stopped waiting for this replica."""
        if self._shared is None or not self._shared.dropped(self.name):
            return None
        return (f"replica {self.name} fell behind for longer than its catch-up window "
                f"({self.settings.catch_up_window:g}s)")  # fmt: skip

    async def _claim(self, found: ReplicaIdentity | None) -> None:
        self._check_lease()
        if self._foreign:
            previous, self.identity = await take_over(self.client, self.db.path, self.db.meta_path)
            log.warning(
                "replica taken over from another database (its lease is gone); it continues "
                "with this database from a fresh snapshot",
                extra=self._fields(previous=previous.describe() if previous else "unreadable"),
            )  # fmt: skip
            self._foreign, self._fresh = False, True
        else:
            self.identity = await claim_replica(
                self.client, self.db.path, self.db.meta_path, self.name, found
            )
        if self.lease is not None:
            self.lease.database_id = self.identity.database_id

    def _check_lease(self) -> None:
        if self.lease is not None:
            self.lease.check()

    async def _check_identity(self) -> None:
        """Stop writing if the replica no longer names this database."""
        current = await read_identity(self.client)
        self._identity_read_at = time.monotonic()
        if self.identity is not None and (
            current is None or current.database_id != self.identity.database_id
        ):
            self._pos = None  # look again (and claim or refuse) on the next pass
            raise ReplicaOwnedError(
                f"replica {self.name} no longer names this database: it names "
                f"{current.describe() if current else 'no database'}",
                hint="another replicator took it over; use a new replica path",
            )

    def _local_path(self, info: LTXFileInfo) -> Path:
        return self.db.ltx_path(info.level, info.min_txid, info.max_txid)

    async def _upload_file(self, info: LTXFileInfo, data: bytes | None) -> None:
        """Upload a local file; ``data`` is its content if already read (small files)."""
        if self.lease is not None:
            await self.lease.attempt()  # renew when due: a long batch outlasts the TTL
            self.lease.check()
        body = data if data is not None else await local_file_data(self._local_path(info))
        stored = await self.client.write_ltx_file(0, info.min_txid, info.max_txid, body)
        self.emit(
            LTXFileUploaded(
                db_path=str(self.db.path), replica=self.name, level=0,
                min_txid=info.min_txid, max_txid=info.max_txid, size=stored.size or info.size,
            )
        )  # fmt: skip

    async def _upload_snapshot(self, reason: str) -> None:
        """A full L9 snapshot at the local position; the replica continues from it."""
        # Its TXID is known once written: the database syncs first.
        log.info("snapshot started", extra=self._fields(reason=reason))
        started = time.monotonic()
        meta = self.db.meta_path
        await asyncio.to_thread(meta.mkdir, parents=True, exist_ok=True)
        tmp = meta / f".snapshot-{os.getpid()}-{id(self)}.ltx.tmp"
        try:
            with tmp.open("w+b") as out:
                header = await self.db.write_snapshot(out)
                out.flush()
            _, trailer = await asyncio.to_thread(_read_frame, tmp)
            self._check_lease()
            data = await local_file_data(tmp)
            stored = await self.client.write_ltx_file(
                SNAPSHOT_LEVEL, header.min_txid, header.max_txid, data
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        path = str(self.db.path)
        self.emit(SnapshotWritten(db_path=path, level=SNAPSHOT_LEVEL, txid=header.max_txid,
                                  size=stored.size, reason=reason, replica=self.name,
                                  duration_seconds=time.monotonic() - started))  # fmt: skip
        self.emit(
            LTXFileUploaded(
                db_path=path, replica=self.name, level=SNAPSHOT_LEVEL, min_txid=header.min_txid,
                max_txid=header.max_txid, size=stored.size,
            )
        )  # fmt: skip
        await self._advance(Pos(header.max_txid, trailer.post_apply_checksum))

    async def _advance(self, pos: Pos) -> None:
        async with self._advanced:
            self._pos = pos
            if self._shared is not None:
                self._shared.acknowledge(self.name, pos.txid)
            self._advanced.notify_all()

    # -- position ----------------------------------------------------------------------

    async def _reconcile(self, state: RemoteState) -> None:
        """Adopt the remote position; rebase the database if the replica is ahead."""
        if self._fresh:
            # Taken over from another database: a whole-database file of ours past the
            # newest TXID there, so a restore gives this database and never a mix.
            self._fresh = False
            top = max((s[1].txid for s in (state.lower, state.snapshot) if s), default=0)
            await self._rebase(Pos(max(top, self.db.pos().txid), 0),
                               "the replica was taken over from another database")  # fmt: skip
            await self._advance(Pos(top, 0))
            return
        remote_state = self._position_file(state)
        if remote_state is None:
            await self._advance(Pos(0, 0))
            return
        newest, remote = remote_state
        local = self.db.pos()
        if remote.txid > local.txid or (remote.txid == local.txid and _diverged(local, remote)):
            why = f"replica at TXID {remote.txid:016x}, local at {local.txid:016x}"
            await self._rebase(remote, why, newest)
        await self._advance(remote)

    def _position_file(self, state: RemoteState) -> tuple[LTXFileInfo, Pos] | None:
        """The file that says where the replica's L0 chain ends.

        L0..L8 decide. A snapshot (taken at the database's position, which can be ahead
        of what was uploaded) counts only when those are empty or behind it and the
        local files cannot fill the gap: adopting it otherwise would skip uploading the
        L0 files in between, and their points in time would be lost.
        """
        lower, snapshot = state.lower, state.snapshot
        if snapshot is None or (lower is not None and lower[1].txid >= snapshot[1].txid):
            return lower
        if lower is None or not self._local_fills(lower[1].txid, snapshot[1].txid):
            return snapshot
        return lower

    def _local_fills(self, after: int, through: int) -> bool:
        """Whether local L0 files continue TXID ``after`` without a gap up to ``through``."""
        expect = after + 1
        for info in self.db.local_ltx_files(0):
            if info.max_txid < expect:
                continue
            if info.min_txid != expect:
                break
            expect = info.max_txid + 1
        return expect > through

    async def _rebase(self, remote: Pos, reason: str, newest: LTXFileInfo | None = None) -> None:
        log.info("the replica is ahead of the local state: continuing from the replica's "
                 "position with a snapshot", extra=self._fields(txid=format_txid(remote.txid),
                                                                reason=reason))  # fmt: skip
        path: Path | None = None
        if newest is not None and newest.level == 0:
            path = self.db.ltx_path(0, newest.min_txid, newest.max_txid)
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            try:
                with tmp.open("wb") as out:
                    await download(self.client, newest, out)
                    await asyncio.to_thread(os.fsync, out.fileno())
                await asyncio.to_thread(os.replace, tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
        await self.db.rebase(remote, path)


@dataclass(frozen=True)
class RemoteState:
    """What a probe found: the newest file of L0..L8 and the newest L9 snapshot."""

    lower: tuple[LTXFileInfo, Pos] | None
    snapshot: tuple[LTXFileInfo, Pos] | None


def _diverged(a: Pos, b: Pos) -> bool:
    """Same TXID, different database: only knowable when both sides carry a checksum
    (Go's files, and ours by default, carry none)."""
    return bool(a.post_apply_checksum and b.post_apply_checksum) and (
        a.post_apply_checksum != b.post_apply_checksum
    )


def _verified(path: Path, codecs: PageCodecs) -> tuple[Header, Trailer, bytes | None]:
    """Header and trailer of a local file after checking every byte of it: a file
    damaged on local disk must not become the replica's copy (Go uploads it as is).

    A small file's bytes come back too: the same read serves the check and the upload
    (one thread hand-off instead of three, for the L0 file of every sync)."""
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size <= SMALL_FILE:
            data = f.read()
            return *verify_file(io.BytesIO(data), codecs), data
        return *verify_file(f, codecs), None


def _framed(data: bytes) -> tuple[Header, Trailer, bytes | None]:
    """Header and trailer of a file the database wrote and still holds in memory."""
    return Header.decode(data[:HEADER_SIZE]), Trailer.decode(data[-TRAILER_SIZE:]), data


def _read_frame(path: Path) -> tuple[Header, Trailer]:
    with path.open("rb") as f:
        header = Header.decode(f.read(HEADER_SIZE))
        f.seek(-TRAILER_SIZE, os.SEEK_END)
        return header, Trailer.decode(f.read(TRAILER_SIZE))
