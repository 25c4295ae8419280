"""The database monitor's asyncio face: one ``DB`` per replicated SQLite database.

All SQLite and file work happens in ``Syncer`` on a worker thread; this class
serialises calls into it (one in flight per database), publishes its events on the
loop, and runs the monitor loop: a sync every ``monitor_interval``, or sooner when
SQLite's wal-index shows a new commit, with Go's error backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import BinaryIO, TypeVar

from litestream_core.client import LTXFileInfo
from litestream_core.engine.dbtypes import DBSettings, Pos
from litestream_core.engine.direct import DirectUpload
from litestream_core.engine.failures import FailureReporter
from litestream_core.engine.holds import ChangeSignal
from litestream_core.engine.meta import MetaDir, default_meta_path
from litestream_core.engine.stats import DBStats
from litestream_core.engine.syncer import ChangeToken, Syncer
from litestream_core.engine.ticker import SharedTicker
from litestream_core.engine.walwatch import WALWatcher
from litestream_core.errors import describe
from litestream_core.events import Event, LTXFileWritten, SyncFailed, SyncRecovered
from litestream_core.logs import format_seconds
from litestream_core.ltx import Header

__all__ = ["DB", "DBSettings", "Pos"]

log = logging.getLogger("litestream.db")

T = TypeVar("T")

BACKOFF_MAX = 300.0
"""Seconds; Go's ``DefaultSyncBackoffMax``."""
ERROR_LOG_INTERVAL = 30.0
"""Repeated sync errors are logged at most this often (Go's ``SyncErrorLogInterval``)."""
IDLE_TICK = 1.0
"""Seconds between ticks of an idle database whose WAL is watched by the kernel, when
the monitor interval is shorter (a write wakes it sooner anyway)."""

_LOCAL_WORK = ThreadPoolExecutor(max_workers=16, thread_name_prefix="litestream-db")
"""Threads for database work (WAL to L0, checkpoints, snapshots), apart from the loop's
default executor: storage SDKs hold threads there through their timeouts and retries,
and a storage outage filling that pool must not stop the WAL from being copied. Most
of this work waits on the disk (fsync), so a thousand databases starting at once need
more threads than cores."""


class DB:
    def __init__(
        self,
        path: str | os.PathLike[str],
        settings: DBSettings | None = None,
        *,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self.settings = settings or DBSettings()
        meta = self.settings.meta_path
        self.meta_path = Path(meta) if meta else default_meta_path(self.path)
        self._meta = MetaDir(self.meta_path)
        self._syncer = Syncer(self.path, self.settings, self._meta)
        self._emit = emit
        self._failures = FailureReporter(log, self._send, db_path=str(self.path))
        self._lock = asyncio.Lock()
        self._last_write = float("-inf")
        """Loop time of the monitor's last sync that wrote a file."""
        self.changed = ChangeSignal()
        """Set whenever a new local LTX file exists (the replica loop clears it)."""
        self._watch: int | None = None
        self._wake_waiter: asyncio.Future[bool] | None = None
        self.direct_upload: Callable[[], AbstractAsyncContextManager[DirectUpload | None]] | None
        self.direct_upload = None
        """Set by a database's only replica when it can take the direct path
        (``engine.direct``): called around each of the monitor's syncs."""
        self._uploaded_through = 0
        """The newest TXID the direct path uploaded: its file needs no upload pass."""

    def ltx_dir(self, level: int) -> Path:
        return self._meta.ltx_dir(level)

    def ltx_path(self, level: int, min_txid: int, max_txid: int) -> Path:
        return self._meta.ltx_path(level, min_txid, max_txid)

    def pos(self) -> Pos:
        return self._syncer.pos

    @property
    def stats(self) -> DBStats:
        """Counters of syncs, checkpoints and WAL bytes (read by the metrics)."""
        return self._syncer.stats

    @property
    def synced_wal_offset(self) -> int:
        return self._syncer.synced_wal_offset

    def local_ltx_files(self, level: int = 0) -> list[LTXFileInfo]:
        return self._meta.files(level)

    def keep_newest_l0(self, limit: int) -> None:
        """Keep the newest L0 file in memory when it has at most ``limit`` bytes, for an
        upload that follows (the replica asks; without one nothing is kept)."""
        self._syncer.keep_newest_l0 = limit

    def newest_l0(self, info: LTXFileInfo) -> bytes | None:
        """The bytes of local file ``info`` if they are still in memory (see above)."""
        if info.level != 0 or info.min_txid != info.max_txid:
            return None
        return self._syncer.newest_l0(info.max_txid, info.size)

    def forget_newest_l0(self, txid: int) -> None:
        """The kept bytes, up to ``txid``, are uploaded: let them go."""
        self._syncer.forget_newest_l0(txid)

    async def open(self, open_files: frozenset[str] | None = None) -> None:
        """Validate and connect. ``open_files``: the paths this process has open, when
        the caller listed them once for many databases (see ``files_open_in_process``)."""
        self._syncer.open_files = open_files
        loop = asyncio.get_running_loop()

        def on_event() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(self._publish)

        self._syncer.on_event = on_event
        await self._run(self._syncer.open)

    async def sync(self) -> LTXFileInfo | None:
        """Turn every new commit into L0 files; returns the last one written (or None).

        A backlog beyond ``max_sync_wal_bytes`` takes several steps, one L0 file each;
        the database is released between steps, so a snapshot, checkpoint or close
        waiting for it is not held up by a long catch-up.
        """
        info = await self._run(self._syncer.sync)
        while self._syncer.limited:
            info = await self._run(self._syncer.sync) or info
        return info

    async def write_snapshot(self, out: BinaryIO) -> Header:
        """A full snapshot at the current position; syncs go on while it is written
        (the syncer reads pages outside its lock), so this does not queue behind them
        and they do not queue behind it."""
        return await self._in_thread(self._syncer.write_snapshot, out)

    async def rebase(self, pos: Pos, ltx_file: Path | None) -> None:
        await self._run(self._syncer.rebase, pos, ltx_file)

    async def remove_ltx_files(self, level: int, up_to_txid: int) -> None:
        await self._run(self._syncer.remove_ltx_files, level, up_to_txid)

    async def checkpoint(self, mode: str) -> None:
        await self._run(self._syncer.checkpoint, mode)

    async def close(self) -> None:
        await self._run(self._syncer.close)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on a worker thread, one call per database at a time.

        If the caller is cancelled, the thread still runs to the end (it cannot be
        interrupted) and we wait for it before releasing the lock, so two threads never
        work on one database.
        """
        async with self._lock:
            return await self._in_thread(fn, *args)

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        """``fn`` on a database thread; a cancelled caller still waits for it to end."""
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(_LOCAL_WORK, functools.partial(fn, *args))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await task
            raise
        finally:
            self._publish()

    def _publish(self) -> None:
        events = self._syncer.drain_events()
        for event in events:
            self._send(event)
        done = self._uploaded_through
        if any(isinstance(e, LTXFileWritten) and e.max_txid > done for e in events):
            self.changed.set()

    def _send(self, event: Event) -> None:
        if self._emit is None:
            return
        try:
            self._emit(event)
        except Exception:  # a listener must never stop replication
            log.exception("event listener failed", extra={"event": event.name})

    # -- monitor ---------------------------------------------------------------------

    async def monitor(self) -> None:
        """Sync until cancelled; errors are logged (rate-limited), emitted, backed off.

        A tick whose change token equals that of the last clean sync costs a few
        syscalls on the loop and nothing else: no thread, no lock, no file opened.
        """
        loop = asyncio.get_running_loop()
        interval = self.settings.monitor_interval
        backoff, failures, last_log = 0.0, 0, float("-inf")
        first = True  # sync as soon as the monitor starts
        # Ticks keep a fixed rate (as Go's ticker): a sleep of a whole interval after
        # each sync put every tick a sync's duration later, and the lag with it.
        tick = loop.time()
        with WALWatcher.get(loop) as watcher:
            try:
                while True:
                    if not first:
                        tick = max(tick + interval, loop.time())
                        woke = await self._wait(watcher, tick, interval, backoff)
                        tick = max(tick, woke)
                    first = False
                    token = self._syncer.change_token()
                    if not failures and self._syncer.is_idle(token):
                        self.stats.count_idle_sync()  # Go counts every tick's sync
                        continue
                    try:
                        info = await self._sync_once(token)
                        while self._syncer.limited:  # a backlog: one step at a time
                            info = await self._run(self._syncer.sync) or info
                        if info is not None:
                            self._last_write = loop.time()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        failures += 1
                        backoff = interval if backoff == 0 else min(backoff * 2, BACKOFF_MAX)
                        if loop.time() - last_log >= ERROR_LOG_INTERVAL:
                            log.error(
                                "could not copy new commits from the database; retrying",
                                extra={"db": str(self.path), "failures": failures,
                                       "retry_in": format_seconds(interval + backoff),
                                       "error": describe(exc)},
                            )  # fmt: skip
                            last_log = loop.time()
                        self._failures.report(
                            exc, operation="sync", attempt=failures, event=SyncFailed
                        )
                        continue
                    if failures:
                        self._send(SyncRecovered(db_path=str(self.path), failures=failures))
                    backoff, failures, last_log = 0.0, 0, float("-inf")
            finally:
                if watcher is not None and self._watch is not None:
                    watcher.disarm(self._watch)
                self._watch = None

    async def _sync_once(self, token: ChangeToken) -> LTXFileInfo | None:
        """The monitor's sync; with a claim of the direct path, its file is uploaded on
        the same thread (``engine.direct``)."""
        if self.direct_upload is None:
            return await self._run(self._syncer.sync, token)
        async with self.direct_upload() as claim:
            if claim is None:
                return await self._run(self._syncer.sync, token)
            return await self._run(self._sync_and_upload, token, claim)

    def _sync_and_upload(self, token: ChangeToken, claim: DirectUpload) -> LTXFileInfo | None:
        """Worker thread: sync; then, if that wrote exactly one file (kept in memory),
        upload it and remove the local copy. The syncer's own lock is taken by each
        call; ``_run``'s lock keeps every other call on this database out meanwhile."""
        syncer = self._syncer
        info = syncer.sync(token)
        if info is None or syncer.limited or syncer.pos.txid != info.max_txid:
            return info
        data = syncer.newest_l0(info.max_txid, info.size)
        if data is None or not claim.upload(info, data):
            return info
        self._uploaded_through = info.max_txid
        syncer.forget_newest_l0(info.max_txid)
        try:
            syncer.remove_ltx_files(0, info.max_txid)
        except OSError as exc:  # the replica's next pass removes them
            log.debug("could not remove uploaded local files",
                      extra={"db": str(self.path), "error": describe(exc)})  # fmt: skip
        return info

    async def _wait(
        self, watcher: WALWatcher | None, tick: float, interval: float, backoff: float
    ) -> float:
        """Sleep until the ``tick`` (plus backoff); while healthy, wake early on a new
        commit. Returns the loop time it woke at.

        Early only once no file was written for a whole interval: the first commit
        after a quiet spell reaches L0 in a few milliseconds, but a steady writer gets
        one L0 file per interval, as in Go. Waking on every commit made tens of files a
        second, each one an object to upload, list, compact and pay for, with no gain
        in lag: the replica uploads at most once per sync interval anyway.

        The kernel says when the WAL is written (inotify, one shot, armed only here);
        without it the wal-index is polled every ``wake_interval``. While armed and
        idle the tick may stretch to ``IDLE_TICK``: a write would wake us anyway.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        earliest = self._last_write + interval
        wake = self.settings.wake_interval
        if backoff:
            await asyncio.sleep(interval + backoff)
            return loop.time()
        if wake <= 0 or earliest >= tick:
            await asyncio.sleep(tick - now)
            return loop.time()
        if watcher is None:
            await self._poll(tick, wake, earliest)
            return loop.time()
        self._wake_waiter = waiter = loop.create_future()
        self._watch = watcher.arm(self._syncer.wal_path, self._wake)
        ticker: SharedTicker | None = None
        timer: asyncio.TimerHandle | None = None
        if self._watch is not None and self._syncer.is_idle(self._syncer.change_token()):
            if interval <= IDLE_TICK:
                # Parked: the loop's one idle timer looks at it each IDLE_TICK and wakes
                # it only when a sync has work (a change the kernel did not report, a
                # checkpoint due by time); the watch stays armed meanwhile.
                ticker = SharedTicker.of(loop, "idle databases", IDLE_TICK)
                ticker.add(self, self._idle_check)
            tick = max(tick, now + IDLE_TICK)
        if ticker is None:
            timer = loop.call_at(tick, _resolve, waiter, False)
        try:
            woken = await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if ticker is not None:
                ticker.discard(self)
            self._wake_waiter = None
        if woken:
            self._watch = None  # a one-shot watch is spent once it fired
            if (left := earliest - loop.time()) > 0:
                await asyncio.sleep(left)
        return loop.time()

    def _idle_check(self, now: float) -> None:
        """The idle ticker's look at a parked database: a tick of Go's monitor, made
        without waking the monitor unless a sync would do something."""
        waiter = self._wake_waiter
        if waiter is None or waiter.done():
            return
        if self._syncer.is_idle(self._syncer.change_token()):
            self.stats.count_idle_sync()  # as the monitor counts its idle ticks
            return
        _resolve(waiter, False)

    def _wake(self) -> None:
        if self._wake_waiter is not None:
            _resolve(self._wake_waiter, True)

    async def _poll(self, deadline: float, wake: float, earliest: float) -> None:
        """The fallback without inotify: read the wal-index every ``wake`` seconds."""
        loop = asyncio.get_running_loop()
        token = self._syncer.change_token()
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(wake, left))
            if loop.time() >= earliest and self._syncer.change_token() != token:
                return


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)
