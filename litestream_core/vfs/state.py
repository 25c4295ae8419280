"""One readable version of a replica database: the LTX files that make up one TXID.

A state is the chain a restore would apply (a snapshot, then compacted and L0 files),
but nothing is applied: a page is read from the newest file of the chain that holds it.
A page a later file cut off by shrinking the database is no longer there, so each file
carries the smallest commit size of the files after it. States are immutable apart
from ``rebase``, which swaps in another chain reaching the same TXID when retention
deleted files of the first one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime

from litestream_core.client import LTXFileInfo, ReplicaClient
from litestream_core.errors import RestoreError
from litestream_core.vfs.pageindex import FileMeta, Frame, ReadStats, fetch_meta

META_CONCURRENCY = 16
"""Header and index fetches in flight while a state is built."""
MEMO_PAGES = 1 << 16
"""Page locations remembered per state (a full scan would otherwise keep them all)."""
_FileKey = tuple[int, int, int]


def file_key(info: LTXFileInfo) -> _FileKey:
    return (info.level, info.min_txid, info.max_txid)


class State:
    def __init__(self, files: Sequence[FileMeta]) -> None:
        if not files:
            raise RestoreError("no backups found on the replica")
        self._lock = threading.Lock()
        self._set(files)

    def _set(self, files: Sequence[FileMeta]) -> None:
        last = files[-1].header
        self.txid = last.max_txid
        self.commit = last.commit
        self.page_size = last.page_size
        self.timestamp = datetime.fromtimestamp(last.timestamp / 1000, UTC)
        self.files = tuple(files)
        valid, floor = [], 1 << 32
        for meta in reversed(self.files):
            valid.append(floor)
            floor = min(floor, meta.header.commit)
        self._valid = tuple(reversed(valid))
        self._memo: dict[int, tuple[FileMeta, Frame] | None] = {}

    def locate(self, pgno: int) -> tuple[FileMeta, Frame] | None:
        """The file and frame holding ``pgno`` in this state; None for a page the
        database does not have (past its size, or never written)."""
        with self._lock:
            if pgno in self._memo:
                return self._memo[pgno]
            files, valid = self.files, self._valid
        found: tuple[FileMeta, Frame] | None = None
        if pgno <= self.commit:
            for i in range(len(files) - 1, -1, -1):
                frame = files[i].index.get(pgno)
                if frame is not None:
                    found = (files[i], frame) if pgno <= valid[i] else None
                    break
        with self._lock:
            if files is self.files:
                if len(self._memo) >= MEMO_PAGES:
                    self._memo.clear()
                self._memo[pgno] = found
        return found

    def rebase(self, files: Sequence[FileMeta]) -> None:
        """Read the same TXID through another chain of files."""
        if not files or files[-1].header.max_txid != self.txid:
            raise RestoreError(f"replacement chain does not reach TXID {self.txid:016x}")
        with self._lock:
            self._set(files)

    @property
    def file_count(self) -> int:
        return len(self.files)


async def fetch_metas(
    client: ReplicaClient,
    infos: Sequence[LTXFileInfo],
    known: MutableMapping[_FileKey, FileMeta],
    stats: ReadStats | None = None,
) -> list[FileMeta]:
    """The metadata of each file, from ``known`` or fetched (and added to it)."""
    limit = asyncio.Semaphore(META_CONCURRENCY)

    async def one(info: LTXFileInfo) -> FileMeta:
        key = file_key(info)
        meta = known.get(key)
        if meta is not None and meta.info.size == info.size:
            return meta
        async with limit:
            meta = await fetch_meta(client, info, stats)
        known[key] = meta
        return meta

    return list(await asyncio.gather(*(one(info) for info in infos)))
