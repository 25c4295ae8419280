"""A replica opened as a database: its current state, the poller, and page reads.

All storage I/O runs on the replica loop (``vfs.loop``); the methods without a leading
underscore are called from SQLite's threads and wait for it. The newest state is
followed by listing level 0 from the next TXID at every poll (one request when nothing
changed); a gap there (files compacted away) or a long chain of small files makes it
plan again from the whole listing, as restore would. Time travel pins a state and stops
polling.

States are checked as follow mode checks what it applies (``continuity.py``): a chain
whose files cannot be one database's (a file growing it without its new pages, an L0
file from another WAL) is refused at open, and a poll that finds one keeps the state
it has and logs why; the replica identity must name the replica's files, as in
restore. Only page ranges a file grows are searched, so a large snapshot's index is
not decoded for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime

from litestream_core.client import LTXFileInfo, ReplicaClient
from litestream_core.engine.continuity import successor_problem
from litestream_core.engine.follow import contiguous
from litestream_core.engine.plan import list_files, plan_for_timestamp, plan_for_txid
from litestream_core.engine.restore import checked_identity
from litestream_core.engine.retry import Backoff
from litestream_core.errors import (
    LTXNotFoundError,
    RestoreError,
    TransientReplicaError,
    describe,
)
from litestream_core.ltx import Header
from litestream_core.ltx.page import decode_frame
from litestream_core.vfs import loop
from litestream_core.vfs.cache import DEFAULT_CACHE_SIZE, PageCache
from litestream_core.vfs.pageindex import FileMeta, Frame, ReadStats, read_range
from litestream_core.vfs.state import State, fetch_metas, file_key

log = logging.getLogger("litestream.vfs")

DEFAULT_POLL_INTERVAL = 1.0
MAX_CHAIN_FILES = 256
"""A state growing past this many files is planned again from the whole listing, where
compacted files stand in for runs of small ones (every page lookup walks the chain)."""
MAX_READAHEAD = 64
"""Frames read in one request when pages are read in order (range scans)."""
READ_ATTEMPTS = 3
CLOSE_TIMEOUT = 30.0
_BACKOFF = Backoff(initial=0.1, maximum=1.0)


class ReplicaDatabase:
    """One replica opened read-only; see the module docstring."""

    def __init__(
        self,
        client: ReplicaClient,
        *,
        timestamp: datetime | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self.client = client
        self.cache = PageCache(cache_size)
        self.poll_interval = poll_interval
        self.stats = ReadStats()
        self.target = timestamp
        self.last_poll: float | None = None
        self._state: State | None = None
        self._metas: dict[tuple[int, int, int], FileMeta] = {}
        self._poller: asyncio.Task[None] | None = None
        self._last_pgno = -1
        self._window = 1
        self._closed = False

    # -- called from SQLite's threads ---------------------------------------------------

    def open(self) -> None:
        loop.run(self._open())

    def close(self) -> None:
        """Stop polling and close the client; once (the connection and exit both call it)."""
        if self._closed:
            return
        self._closed = True
        loop.run(self._close(), timeout=CLOSE_TIMEOUT)

    @property
    def state(self) -> State:
        if self._state is None:
            raise RestoreError("replica database is not open")
        return self._state

    def set_time(self, timestamp: datetime | None) -> State:
        """Read the state at ``timestamp`` from the next transaction on (None: newest,
        followed again)."""
        return loop.run(self._set_time(timestamp))

    def read_page(self, state: State, pgno: int) -> bytes:
        """Page ``pgno`` as of ``state``; zeros for a page no file holds (the lock page)."""
        sequential = pgno == self._last_pgno + 1
        self._last_pgno = pgno
        found = state.locate(pgno)
        if found is None:
            return bytes(state.page_size)
        meta, frame = found
        key = (file_key(meta.info), pgno)
        page = self.cache.get(key)
        if page is not None:
            return page
        self._window = min(MAX_READAHEAD, self._window * 2) if sequential else 1
        frames = meta.index.run(pgno, self._window) if self._window > 1 else [frame]
        meta, frames, pages = loop.run(self._read_frames(state, meta, frames))
        where = file_key(meta.info)
        for got, data in zip(frames, pages, strict=True):
            self.cache.put((where, got.pgno), data)
        return pages[0]

    # -- on the replica loop ------------------------------------------------------------

    async def _open(self) -> None:
        await self.client.init()
        try:
            await checked_identity(self.client)
            self._state = await self._plan(self.target)
        except BaseException:
            await self.client.close()
            raise
        self.last_poll = time.time()
        self._start_polling()

    async def _close(self) -> None:
        await self._stop_polling()
        await self.client.close()

    async def _set_time(self, timestamp: datetime | None) -> State:
        state = await self._plan(timestamp)
        await self._stop_polling()
        self.target, self._state = timestamp, state
        self._start_polling()
        return state

    def _start_polling(self) -> None:
        if self.target is None and self.poll_interval > 0 and self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _stop_polling(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def _plan(self, timestamp: datetime | None, txid: int | None = None) -> State:
        """The state at ``timestamp`` (or ``txid``, or the newest) from a full listing."""
        listing = await list_files(self.client, use_metadata=timestamp is not None)
        if timestamp is not None:
            plan = plan_for_timestamp(listing, timestamp)
        else:
            plan = plan_for_txid(listing, txid)
        metas = await fetch_metas(self.client, plan.files, self._metas, self.stats)
        if metas:
            first = metas[0].header
            check_chain(metas[1:], first.commit, first if metas[0].info.level == 0 else None)
        self._forget_unused(metas)
        return State(metas)

    def _forget_unused(self, keep: list[FileMeta]) -> None:
        """Drop metadata of files no live state uses (keeps memory bounded)."""
        live = {file_key(m.info) for m in keep}
        if self._state is not None:
            live |= {file_key(m.info) for m in self._state.files}
        for key in [k for k in self._metas if k not in live]:
            del self._metas[key]

    async def _poll_forever(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self._advance()
            except Exception as exc:  # logged and retried: a reader keeps its state
                failures += 1
                log.warning("could not read the replica's new changes; retrying",
                            extra={"error": describe(exc), "failures": failures})  # fmt: skip
                continue
            failures = 0
            self.last_poll = time.time()

    async def _advance(self) -> None:
        """Move the newest state forward to whatever the replica holds now."""
        state = self.state
        l0 = sorted(
            [f async for f in self.client.ltx_files(0, seek=state.txid + 1)],
            key=lambda f: (f.min_txid, f.max_txid),
        )
        chain: list[LTXFileInfo] = contiguous(l0, state.txid)
        if not l0:
            return
        if not chain or state.file_count + len(chain) > MAX_CHAIN_FILES:
            new = await self._plan(None)
        else:
            metas = await fetch_metas(self.client, chain, self._metas, self.stats)
            last = state.files[-1]
            check_chain(metas, last.header.commit, last.header if last.info.level == 0 else None)
            new = State([*state.files, *metas])
        if self.target is None and new.txid >= state.txid:
            self._state = new

    async def _read_frames(
        self, state: State, meta: FileMeta, frames: list[Frame]
    ) -> tuple[FileMeta, list[Frame], list[bytes]]:
        """Consecutive frames of one file with one range read, decoded and checked.

        A file deleted since the state was planned (retention) is answered by planning
        the same TXID again; it fails only when the replica can no longer reach it.
        """
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return meta, frames, await self._read_once(meta, frames)
            except LTXNotFoundError:
                if attempt == READ_ATTEMPTS:
                    raise
                meta, frames = await self._replan_for(state, frames[0].pgno, len(frames))
            except (TransientReplicaError, ConnectionError):
                if attempt == READ_ATTEMPTS:
                    raise
                await asyncio.sleep(_BACKOFF.delay(attempt))
        raise AssertionError("unreachable")

    async def _read_once(self, meta: FileMeta, frames: list[Frame]) -> list[bytes]:
        start = frames[0].offset
        end = frames[-1].offset + frames[-1].size
        if meta.data is not None:
            raw = meta.data[start:end]
        else:
            raw = await read_range(self.client, meta.info, start, end - start, self.stats)
        size = meta.header.page_size
        return [
            decode_frame(raw[f.offset - start : f.offset - start + f.size], size, f.pgno)
            for f in frames
        ]

    async def _replan_for(
        self, state: State, pgno: int, count: int
    ) -> tuple[FileMeta, list[Frame]]:
        try:
            fresh = await self._plan(None, txid=state.txid)
        except RestoreError as exc:
            raise RestoreError(
                f"the replica no longer holds TXID {state.txid:016x} (retention removed its "
                f"files); start a new read transaction: {describe(exc)}"
            ) from exc
        state.rebase(fresh.files)
        found = state.locate(pgno)
        if found is None:
            raise RestoreError(f"page {pgno} vanished from TXID {state.txid:016x}")
        meta, frame = found
        return meta, meta.index.run(pgno, count) or [frame]


def check_chain(metas: Sequence[FileMeta], commit: int, last_l0: Header | None) -> None:
    """Refuse ``metas`` unless each can follow the state before it (a database of
    ``commit`` pages, reached through the L0 file ``last_l0`` when known)."""
    for meta in metas:
        header, info = meta.header, meta.info

        def holds(first: int, last: int, meta: FileMeta = meta) -> bool:
            return meta.index.holds(first, last, meta.header.page_size)

        if why := successor_problem(commit, last_l0, info.level, header, holds):
            raise RestoreError(
                f"LTX file {info.name} (level {info.level}): {why}; the replica holds files "
                "of another database",
                hint="run litestream verify on the replica",
            )
        commit, last_l0 = header.commit, header if info.level == 0 else None
