"""Compaction levels, L9 snapshots and retention for one replica, as asyncio tasks.

The compactor works purely through a ReplicaClient, so it runs beside the replica loop
of the replicating process, or alone against any replica. Merging runs in a worker
thread over temporary files: a large compaction never holds a database in memory and
never stalls the event loop that carries replication.

Compacted files take the timestamp of their newest source (the codec's ``compact``
does, as Go's ltx v0.5.2 compactor). A point-in-time restore picks files whose time is
before the target, so a file stamped with its *newest* transaction is only picked when
every transaction in it happened before the target: the restore can fall short of the
target (to the nearest retained point) but never goes past it. Stamping the earliest
source would let a restore to 12:00 replay a 12:05 ``DELETE``.

Snapshots come from the database when one is attached (``DB.write_snapshot``): that
is an independent copy of the truth, so a snapshot also heals anything a replica file
got wrong, and it costs local disk reads instead of downloading the replica. With no
database at hand the snapshot is compacted from the replica's own files (the fewest
files from the newest snapshot to the newest state), so maintenance tools and tests
can snapshot any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo, ReplicaClient
from litestream_core.compression import BUILTIN_CODECS, PageCodecs
from litestream_core.engine import clock as engine_clock
from litestream_core.engine.chain import coarsest_chain, list_level, list_levels, newest
from litestream_core.engine.failures import FailureReporter
from litestream_core.engine.levels import (
    CompactionSettings,
    next_compaction_at,
    prev_compaction_at,
)
from litestream_core.engine.meta import SCRATCH_PREFIX
from litestream_core.engine.retention import (
    RetentionPlan,
    l0_retention_status,
    plan_l0_retention,
    plan_snapshot_retention,
)
from litestream_core.engine.stats import DBStats
from litestream_core.engine.streams import as_local_replica, download, local_file_data
from litestream_core.errors import LTXError, LTXNotFoundError, describe
from litestream_core.events import (
    CompactionCompleted,
    CompactionFailed,
    Event,
    RetentionEnforced,
    SnapshotWritten,
)
from litestream_core.logs import format_txid, replica_type
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Decoder, Header, compact

log = logging.getLogger("litestream.compaction")

MAX_MERGE_INPUTS = 256
"""LTX files merged in one pass; each is an open file descriptor."""

DOWNLOADS_AT_ONCE = 8
"""Source files fetched concurrently: many small L0 files are latency-bound on object stores."""

SCHEDULED_AT_ONCE = 2
"""Scheduled compaction passes running at once across every database of an event loop.

Levels fall due at the same aligned moments for every database; a thousand passes at
once queued ahead of the monitors' and replicas' work for seconds (lag), where Go
runs them one database after another."""

_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _scheduled_gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None:
        gate = _GATES[loop] = asyncio.Semaphore(SCHEDULED_AT_ONCE)
    return gate


class _Position(Protocol):
    @property
    def txid(self) -> int: ...


class SnapshotSource(Protocol):
    """What the compactor needs from a database (``engine.db.DB`` satisfies it)."""

    meta_path: Path

    def pos(self) -> _Position: ...

    def ltx_path(self, level: int, min_txid: int, max_txid: int) -> Path: ...

    async def write_snapshot(self, out: BinaryIO) -> Header: ...


class WriteGuard(Protocol):
    """What the compactor asks of a lease (``engine.lease.Lease``)."""

    @property
    def held(self) -> bool: ...

    def check(self) -> None: ...


class Compactor:
    """Compacts, snapshots and prunes one replica; ``run()`` does it on a schedule.

    ``db`` is optional: with it, snapshots come from the database and level-0 sources
    are read from its meta directory when still there. ``clock`` gives the current
    time: the engine's clock by default (docs/clocks.md); tests pass a fake one to
    age files without waiting.
    """

    def __init__(
        self,
        client: ReplicaClient,
        settings: CompactionSettings | None = None,
        *,
        db: SnapshotSource | None = None,
        emit: Callable[[Event], None] | None = None,
        clock: Callable[[], datetime] = engine_clock.now,
        db_path: str = "",
        tmp_dir: str | Path | None = None,
        codecs: PageCodecs | None = None,
        replica_name: str | None = None,
        lease: WriteGuard | None = None,
        stats: DBStats | None = None,
    ) -> None:
        """``codecs``: what the replica's files may be read with, and the codec merged
        files are written with (the replica's ``compression``; LZ4 when None).
        ``replica_name`` names the replica in failure events. ``lease``: the replica's
        lease (``engine.lease``); while it is not held nothing is written or deleted.
        ``stats`` gets the L0 retention counts (the database's, for the metrics)."""
        self.lease = lease
        self.stats = stats
        self.client = client
        self._reporter = FailureReporter(log, emit, db_path=db_path, replica=replica_name)
        self._replica_name = replica_name or ""
        self._failures: dict[str, int] = {}
        self.codecs = codecs or BUILTIN_CODECS
        self.settings = settings or CompactionSettings()
        self.db = db
        self._emit = emit
        self._clock = clock
        self._db_path = db_path
        self._tmp_dir = tmp_dir
        self._lock = asyncio.Lock()

    # -- one-shot operations -------------------------------------------------------

    async def compact(self, level: int) -> list[LTXFileInfo]:
        """Merge the files of the level below that ``level`` does not hold yet.

        One file per run, from the files listed when it starts (files arriving during
        the merge wait for the next run); a source gap (level 0 continuing after a
        snapshot bridged a lost position) starts a second file rather than failing.
        Returns the files written, none when there was nothing new.
        """
        if not 1 <= level <= self.settings.max_level:
            raise ValueError(f"level {level} is not a compaction level")
        written: list[LTXFileInfo] = []
        async with self._lock:
            dst = newest(await list_level(self.client, level))
            seek = dst.max_txid + 1 if dst else 0
            runs = _contiguous_runs(await list_level(self.client, level - 1, seek=seek))
            for sources in runs:
                if dst and sources[0].min_txid != dst.max_txid + 1:
                    log.warning(
                        "level below has a gap: compaction continues after it in a new file",
                        extra=self._fields(ltx_level=level, after_txid=format_txid(dst.max_txid),
                                           txid=format_txid(sources[0].min_txid)),
                    )  # fmt: skip
                dst = await self._merge_and_upload(level, sources)
                written.append(dst)
                self._send(
                    CompactionCompleted(
                        db_path=self._db_path,
                        level=level,
                        min_txid=dst.min_txid,
                        max_txid=dst.max_txid,
                        source_files=len(sources),
                        replica=self._replica_name or "",
                    )
                )
            if written and self.settings.verify_compaction:
                await self._verify(level)
        return written

    async def _verify(self, level: int) -> None:
        """Go's post-compaction check: its first problem is one warning and one count."""
        from litestream_core.engine.validation import level_problems, report

        problems = level_problems(level, await list_level(self.client, level))
        report(problems[:1], self._emit, db_path=self._db_path,
               replica=self._replica_name or self.client.type, check="compaction")  # fmt: skip

    async def snapshot(self, *, force: bool = False) -> LTXFileInfo | None:
        """Write a full snapshot to level 9 unless the newest one is already current.

        ``force`` writes one even then (``replicate -once -force-snapshot``).
        """
        async with self._lock:
            if self.db is not None:
                last = newest(await list_level(self.client, SNAPSHOT_LEVEL))
                return await self._snapshot_from_db(last, force)
            levels = await list_levels(self.client)
            files = [f for fs in levels.values() for f in fs]
            top = newest(files)
            last = newest(levels[SNAPSHOT_LEVEL])
            if top is None or (not force and last and last.max_txid >= top.max_txid):
                return None
            chain = coarsest_chain(files, top.max_txid)
            if not chain:
                log.warning("cannot take a snapshot: the replica has no earlier snapshot to "
                            "build it from", extra=self._fields())  # fmt: skip
                return None
            if chain[-1].max_txid < top.max_txid:
                log.warning(
                    "the snapshot stops short of the newest transaction: files are missing "
                    "between them on the replica",
                    extra=self._fields(txid=format_txid(chain[-1].max_txid),
                                       newest_txid=format_txid(top.max_txid)),
                )  # fmt: skip
            if not force and last and last.max_txid >= chain[-1].max_txid:
                return None
            started = self._snapshot_started("compacted from replica", chain[-1].max_txid)
            info = await self._merge_and_upload(SNAPSHOT_LEVEL, chain)
        self._send_snapshot(info, "compacted from replica", started)
        return info

    async def enforce_retention(self) -> RetentionPlan:
        """Delete old snapshots and the level 1..N files only they needed."""
        async with self._lock:
            levels = await list_levels(
                self.client, [*range(1, self.settings.max_level + 1), SNAPSHOT_LEVEL]
            )
            plan = plan_snapshot_retention(
                levels,
                now=self._clock(),
                retention=self.settings.snapshot_retention,
                max_level=self.settings.max_level,
            )
            await self._delete(plan.deletions)
        return plan

    async def enforce_l0_retention(self) -> list[LTXFileInfo]:
        """Delete L0 files merged into L1 more than ``l0_retention`` ago."""
        if self.settings.l0_retention <= 0 or self.settings.max_level < 1:
            return []
        async with self._lock:
            l0, l1 = await list_level(self.client, 0), await list_level(self.client, 1)
            now, retention = self._clock(), self.settings.l0_retention
            doomed = plan_l0_retention(l0, l1, now=now, retention=retention)
            if self.stats is not None:
                self.stats.set_l0_retention(
                    l0_retention_status(l0, l1, doomed, now=now, retention=retention)
                )
            await self._delete({0: doomed} if doomed else {})
        return doomed

    async def run_once(
        self, *, force_snapshot: bool = False, enforce_retention: bool = False
    ) -> None:
        """``replicate -once`` after its upload: only what is due, so a first run (or a
        cron job run often) uploads the database once, not once per level.

        Each level compacts when the scheduler would (``_due_once``); a snapshot is
        taken when forced or due (``_snapshot_due_once``); deleting anything takes
        ``enforce_retention``, as in Go.
        """
        now = self._clock()
        for level in range(1, self.settings.max_level + 1):
            if await self._due_once(level, now):
                await self.compact(level)
        if force_snapshot or await self._snapshot_due_once(now):
            await self.snapshot(force=force_snapshot)
        if enforce_retention:
            log.info("deleting files past their retention", extra=self._fields())
            await self.enforce_retention()
            await self.enforce_l0_retention()

    # -- the schedule --------------------------------------------------------------

    async def run(self) -> None:
        """Run every level, the snapshots and L0 retention on their schedules until cancelled."""
        async with asyncio.TaskGroup() as group:
            for level in self.settings.scheduled_levels():
                group.create_task(self._level_loop(level), name=f"compact-L{level}")
            s = self.settings
            if s.l0_retention > 0 and s.l0_retention_check_interval > 0 and s.max_level:
                group.create_task(self._l0_retention_loop(), name="l0-retention")

    async def _level_loop(self, level: int) -> None:
        """Each level when due. A database that has synced nothing yet when the loop
        starts (a new replica) waits for the next slot, as Go skips a database that is
        not ready: its first L0 file already holds every page, and a thousand databases
        starting at once would otherwise each compact and snapshot right away."""
        interval = self.settings.interval(level)
        ready = self.db is None or self.db.pos().txid > 0
        while True:
            now = self._clock()
            try:
                if ready and (self.lease is None or self.lease.held):
                    async with _scheduled_gate():
                        await self._scheduled_pass(level, now)
                ready = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                what = "snapshot" if level == SNAPSHOT_LEVEL else "compaction"
                log.error(f"{what} failed; the next scheduled one retries",
                          extra=self._fields(ltx_level=level, error=describe(exc)))  # fmt: skip
                self._failed(exc, "snapshot" if level == SNAPSHOT_LEVEL else "compact")
            else:
                self._failures.pop("snapshot" if level == SNAPSHOT_LEVEL else "compact", None)
            delay = (next_compaction_at(now, interval) - self._clock()).total_seconds()
            await asyncio.sleep(max(delay, 0.0))

    async def _scheduled_pass(self, level: int, now: datetime) -> None:
        if not await self._due(level, now):
            return
        if level == SNAPSHOT_LEVEL:
            await self.snapshot()
            await self.enforce_retention()
        else:
            await self.compact(level)
            if level == 1:
                await self.enforce_l0_retention()

    async def _l0_retention_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.l0_retention_check_interval)
            try:
                if self.lease is None or self.lease.held:
                    async with _scheduled_gate():
                        await self.enforce_l0_retention()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("could not delete old level-0 files; the next check retries",
                          extra=self._fields(error=describe(exc)))  # fmt: skip
                self._failed(exc, "retention")
            else:
                self._failures.pop("retention", None)

    def _failed(self, exc: Exception, operation: str) -> None:
        attempt = self._failures[operation] = self._failures.get(operation, 0) + 1
        self._reporter.report(exc, operation=operation, attempt=attempt, event=CompactionFailed)

    async def _due(self, level: int, now: datetime) -> bool:
        """Go's "too early" guard: a level already written in this slot waits for the next."""
        last = newest(await list_level(self.client, level))
        slot = prev_compaction_at(now, self.settings.interval(level))
        return last is None or last.created_at <= slot

    async def _due_once(self, level: int, now: datetime) -> bool:
        """The scheduler's guard, except that an empty level waits until its oldest
        source file is one interval old: the scheduler would fill it at once, which in
        a first ``-once`` run re-uploads the database just uploaded to L0."""
        if newest(await list_level(self.client, level)) is not None:
            return await self._due(level, now)
        sources = await list_level(self.client, level - 1)
        if not sources:
            return False
        started = min(f.created_at for f in sources)
        return now - started >= timedelta(seconds=self.settings.interval(level))

    async def _snapshot_due_once(self, now: datetime) -> bool:
        """No snapshot since the start of the current snapshot interval.

        With no L9 snapshot yet, a lower-level file starting at TXID 1 is one (it holds
        every page, and restore starts from it), so the interval counts from the first
        of them; only a replica with no such file needs a snapshot at once.
        """
        last = newest(await list_level(self.client, SNAPSHOT_LEVEL))
        if last is None:
            levels = await list_levels(self.client, range(self.settings.max_level + 1))
            bases = [f.created_at for fs in levels.values() for f in fs if f.min_txid == 1]
            if not bases:
                return True
            return now - min(bases) >= timedelta(seconds=self.settings.snapshot_interval)
        return last.created_at <= prev_compaction_at(now, self.settings.snapshot_interval)

    # -- helpers -------------------------------------------------------------------

    async def _snapshot_from_db(self, last: LTXFileInfo | None, force: bool) -> LTXFileInfo | None:
        assert self.db is not None
        txid = self.db.pos().txid
        if txid == 0 or (not force and last and last.max_txid >= txid):
            return None  # nothing synced yet, or no change since the newest snapshot
        reason = "forced" if force else "scheduled"
        started = self._snapshot_started(reason)  # its TXID is known once written
        with self._spool() as tmp:
            path = Path(tmp) / "snapshot.ltx.tmp"
            with path.open("w+b") as out:
                header = await self.db.write_snapshot(out)
                await asyncio.to_thread(out.flush)
            self._check_lease()
            info = await self.client.write_ltx_file(
                SNAPSHOT_LEVEL, header.min_txid, header.max_txid, await local_file_data(path)
            )
        self._send_snapshot(info, reason, started)
        return info

    async def _merge_and_upload(self, level: int, sources: Sequence[LTXFileInfo]) -> LTXFileInfo:
        """Merge ``sources`` (in order) into one file of ``level`` and upload it whole.

        The database's local copies are read first; one damaged on local disk after
        its upload would otherwise fail this compaction on every run, so the merge is
        then redone from the replica's own copies.
        """
        try:
            return await self._merge_from(level, sources, local=self.db is not None)
        except LTXError as exc:
            if self.db is None:
                raise
            log.warning(
                "a local copy of a file to compact is damaged; using the replica's copies",
                extra=self._fields(ltx_level=level, error=exc.one_line()),
            )  # fmt: skip
            return await self._merge_from(level, sources, local=False)

    async def _merge_from(
        self, level: int, sources: Sequence[LTXFileInfo], *, local: bool
    ) -> LTXFileInfo:
        with self._spool() as tmp:
            gate = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

            async def fetch(index: int, info: LTXFileInfo) -> Path:
                async with gate:
                    return await self._fetch(info, Path(tmp), index, local=local)

            if (files := as_local_replica(self.client)) is not None:
                # One thread links them all: a hand-off per read of thousands of small
                # files (the low-latency setting's L0) held up the loop for a second.
                own = [
                    self.db.ltx_path(i.level, i.min_txid, i.max_txid)
                    if local and self.db is not None
                    else None
                    for i in sources
                ]
                theirs = [files.file_path(i.level, i.min_txid, i.max_txid) for i in sources]
                paths = await asyncio.to_thread(_link_all, sources, own, theirs, Path(tmp))
            else:
                paths = await asyncio.gather(*(fetch(i, info) for i, info in enumerate(sources)))
            single = None
            if len(paths) == 1:
                single = await asyncio.to_thread(_as_is, paths[0], self.codecs)
            if single is not None:
                out_path, header = paths[0], single
            else:
                out_path = Path(tmp) / "out.ltx.tmp"
                header = await asyncio.to_thread(_compact_files, paths, out_path, self.codecs)
            self._check_lease()
            return await self.client.write_ltx_file(
                level, header.min_txid, header.max_txid, await local_file_data(out_path)
            )

    async def _fetch(self, info: LTXFileInfo, tmp: Path, index: int, *, local: bool) -> Path:
        """A local path holding ``info``: the database's own copy if it still has it
        (and ``local``), else the replica's."""
        path = tmp / f"{index:06d}.ltx.tmp"
        if local and self.db is not None:
            own = self.db.ltx_path(info.level, info.min_txid, info.max_txid)
            try:
                await asyncio.to_thread(_copy_or_link, own, path)
                return path
            except FileNotFoundError:
                pass  # uploaded and cleaned up locally since: read the replica's copy
        with path.open("wb") as out:
            await download(self.client, info, out)
        return path

    async def _delete(self, deletions: dict[int, list[LTXFileInfo]]) -> None:
        for level, files in sorted(deletions.items()):
            if not files:
                continue
            if not self.settings.retention_enabled:
                log.debug("retention is disabled: keeping old files on the replica",
                          extra=self._fields(ltx_level=level, files=len(files)))  # fmt: skip
                continue
            self._check_lease()
            await self.client.delete_ltx_files(files)
            self._send(RetentionEnforced(db_path=self._db_path, level=level, deleted=len(files),
                                         replica=self._replica_name or ""))  # fmt: skip

    def _check_lease(self) -> None:
        if self.lease is not None:
            self.lease.check()

    def _spool(self) -> tempfile.TemporaryDirectory[str]:
        """Scratch space: the database's meta directory by default, not a RAM-backed /tmp,
        since a snapshot is as large as the database (and local L0 files hard-link there).
        Files in it end in ``.tmp``, so the DB's start-up sweep removes what a crash left.
        """
        where = self._tmp_dir
        if where is None and self.db is not None and self.db.meta_path.is_dir():
            where = self.db.meta_path
        return tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=where)

    def _fields(self, **more: object) -> dict[str, object]:
        """The fields naming this compactor's database and replica in a log line."""
        return {"db": self._db_path, "replica": replica_type(self._replica_name), **more}

    def _snapshot_started(self, reason: str, txid: int | None = None) -> float:
        at = {} if txid is None else {"txid": format_txid(txid)}
        log.info("snapshot started", extra=self._fields(**at, reason=reason))
        return time.monotonic()

    def _send_snapshot(self, info: LTXFileInfo, reason: str, started: float) -> None:
        """The snapshot is on the replica (the event log says so, with size and duration)."""
        self._send(
            SnapshotWritten(
                db_path=self._db_path,
                level=SNAPSHOT_LEVEL,
                txid=info.max_txid,
                size=info.size,
                reason=reason,
                duration_seconds=time.monotonic() - started,
                replica=self._replica_name or "",
            )
        )

    def _send(self, event: Event) -> None:
        if self._emit is None:
            return
        try:
            self._emit(event)
        except Exception as exc:  # a listener's failure is never the compactor's
            log.warning("event listener failed", extra={"error": describe(exc)})


def _contiguous_runs(files: list[LTXFileInfo]) -> list[list[LTXFileInfo]]:
    """``files`` split where a TXID gap opens; a file that extends nothing is skipped."""
    runs: list[list[LTXFileInfo]] = []
    for info in files:
        if runs and info.max_txid <= runs[-1][-1].max_txid:
            continue
        if runs and info.min_txid <= runs[-1][-1].max_txid + 1:
            runs[-1].append(info)
        else:
            runs.append([info])
    return runs


def _compact_files(
    paths: Sequence[Path], out_path: Path, codecs: PageCodecs = BUILTIN_CODECS
) -> Header:
    """Merge ``paths`` into ``out_path``, at most MAX_MERGE_INPUTS open at a time.

    Merging is associative (newest page wins, outer TXIDs and checksums, newest
    timestamp), so folding batches into a partial result gives the same file as one
    merge of everything, without running out of file descriptors on a replica that
    has gathered thousands of L0 files.
    """
    pending = list(paths)
    round_ = 0
    while len(pending) > MAX_MERGE_INPUTS:
        partial = out_path.with_name(f"partial-{round_}.ltx.tmp")
        _merge_files(pending[:MAX_MERGE_INPUTS], partial, codecs)
        if round_:
            pending[0].unlink()
        pending = [partial, *pending[MAX_MERGE_INPUTS:]]
        round_ += 1
    return _merge_files(pending, out_path, codecs)


def _as_is(path: Path, codecs: PageCodecs = BUILTIN_CODECS) -> Header | None:
    """The header of ``path`` if merging it alone would rewrite it byte for byte, after
    checking the whole file (what the merge would have checked); else None.

    The merge keeps the pages (a valid file holds them in order, none past the commit)
    and re-encodes them the same way, so only the header can change: compaction keeps
    no WAL position or node id. Uploading such a file as is saves re-encoding a level
    (often the whole database) for nothing. The file checksum covers the uncompressed
    pages, so checking it still decodes them. A file in another codec than the one
    being written is re-encoded.
    """
    with path.open("rb") as f:
        dec = Decoder(f, codecs)
        header = dec.header
        if header != _compacted_header(header, codecs.write_name):
            return None
        dec.verify()
    return header


def _compacted_header(h: Header, codec: str) -> Header:
    """The header ``compact`` writes for ``h`` alone: the fields it carries over."""
    return Header(
        page_size=h.page_size,
        commit=h.commit,
        min_txid=h.min_txid,
        max_txid=h.max_txid,
        timestamp=h.timestamp,
        pre_apply_checksum=h.pre_apply_checksum,
        flags=h.flags & HEADER_FLAG_NO_CHECKSUM,
    ).with_codec(codec)


def _merge_files(paths: Sequence[Path], out_path: Path, codecs: PageCodecs) -> Header:
    with contextlib.ExitStack() as stack:
        inputs = [stack.enter_context(p.open("rb")) for p in paths]
        out = stack.enter_context(out_path.open("wb"))
        header = compact(inputs, out, codecs)
        out.flush()
    return header


def _link_all(
    sources: Sequence[LTXFileInfo], own: Sequence[Path | None], theirs: Sequence[Path], tmp: Path
) -> list[Path]:
    """``_fetch`` for every source of a local (file) replica, in one thread: the
    database's own copy if it has it, else the replica's file, linked or copied."""
    paths = []
    for index, (info, mine, replica_path) in enumerate(zip(sources, own, theirs, strict=True)):
        path = tmp / f"{index:06d}.ltx.tmp"
        paths.append(path)
        if mine is not None:
            with contextlib.suppress(FileNotFoundError):
                _copy_or_link(mine, path)
                continue
        try:
            _copy_or_link(replica_path, path)
        except FileNotFoundError as exc:
            raise LTXNotFoundError(
                f"LTX file not found: {replica_path}", op="open", url=str(replica_path),
                level=info.level, min_txid=info.min_txid, max_txid=info.max_txid,
            ) from exc  # fmt: skip
    return paths


def _copy_or_link(src: Path, dst: Path) -> None:
    """A private copy of a local LTX file (a hard link when the filesystem allows)."""
    try:
        dst.hardlink_to(src)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(src, dst)
