"""Follow mode (``restore -f``): a restored database kept current in place, for readers.

After the first restore, new LTX files are polled from level 0 (where every sync lands)
and applied to the database file itself; when level 0 has a gap (its files were
compacted and removed) the chain continues through levels 1-8. Readers open the file
read-only with any SQLite and must never see a half-applied file, so:

- a file is downloaded and verified end to end (its CRC-64) *before* any page of it is
  written: a corrupt or truncated file changes nothing;
- pages are written under SQLite's own EXCLUSIVE lock (POSIX locks on the PENDING byte
  and the SHARED range), so a reader's transaction sees the state before or after;
- page 1 always says "rollback journal" (bytes 18-19), so readers take those locks
  rather than a WAL's, and its change counter moves with every applied TXID, so
  readers drop their page caches. Go rewrites the counter only when a file happens to
  carry page 1; a WAL-mode writer leaves page 1 out of most transactions, so Go's
  readers can keep stale pages. We rewrite it after every file;
- the size is truncated to the commit size after an fsync.

The ``-txid`` sidecar (Go's name and format) records the TXID the file holds, written
atomically after each applied file, so a follower killed at any point resumes: a file
applied halfway is applied again whole, which rewrites every page it had touched.
A resume is refused when the replica no longer continues from that TXID (its history
was pruned, or it was reset); Go compares with the newest snapshot instead, which
refuses nearly every resume once L0 files have moved past it.

Files that cannot continue the database (``continuity.py``: a file growing it without
its new pages, an L0 file from another WAL, as when a second database writes to the
replica) end follow mode before any of their pages is written: the first restore
makes restore's checks, and each batch is checked against the state it continues.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import fcntl
import io
import logging
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo, ReplicaClient
from litestream_core.engine.continuity import required_pages, successor_problem
from litestream_core.engine.meta import default_meta_path, fsync_dir
from litestream_core.engine.plan import list_files
from litestream_core.engine.restore import l0_header_ending_at, output_in_use, restore
from litestream_core.engine.streams import download, fetch_bytes
from litestream_core.errors import LitestreamError, RestoreError, describe
from litestream_core.events import Event
from litestream_core.logs import format_txid
from litestream_core.ltx import Decoder, Header

log = logging.getLogger("litestream.follow")

DEFAULT_INTERVAL = 1.0
SIDECAR_SUFFIX = "-txid"
SMALL_FILE = 4 << 20
"""LTX files up to this size are held in memory; larger ones are spooled to disk."""
BATCH_FILES = 256
BATCH_BYTES = 64 << 20
"""A batch applied under one lock hold is at most this many files or bytes."""
LOST_POSITION_POLLS = 3
"""Consecutive polls without a continuation before the follower gives up."""

# SQLite's lock bytes (os_unix.c): EXCLUSIVE = write locks on PENDING and SHARED range.
_PENDING_BYTE = 0x40000000
_SHARED_FIRST = _PENDING_BYTE + 2
_SHARED_SIZE = 510
_LOCK_RETRY = 0.01
_HEADER_U32 = struct.Struct(">I")


class FollowError(RestoreError):
    """Following cannot go on (or resume) without deleting the database and restoring."""


@dataclass(frozen=True)
class Applied:
    """One poll's outcome: the TXIDs now held and the files it took to get there."""

    txid: int
    files: tuple[LTXFileInfo, ...]


def sidecar_path(db: Path) -> Path:
    return Path(f"{db}{SIDECAR_SUFFIX}")


def read_sidecar(db: Path) -> int | None:
    """The TXID recorded beside ``db``; None when there is no sidecar."""
    path = sidecar_path(db)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        raise FollowError(f"invalid TXID {text!r} in {path}") from None
    if not text or len(text) > 16 or value <= 0:
        raise FollowError(f"invalid TXID {text!r} in {path}")
    return value


def write_sidecar(db: Path, txid: int) -> None:
    """Record ``txid`` atomically (temporary file, fsync, rename, directory fsync)."""
    path = sidecar_path(db)
    tmp = Path(f"{path}.tmp")
    with open(tmp, "w") as f:
        f.write(f"{txid:016x}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def continuation(files: Mapping[int, Sequence[LTXFileInfo]], pos: int) -> list[LTXFileInfo]:
    """The fewest files of levels 0-8 carrying a database at TXID ``pos`` furthest.

    A file applies to any state inside its range (it holds the final version of every
    page its range changed), so each step is a file starting at or before ``pos + 1``
    and ending past it; the one reaching furthest wins, ties to the lower level (L0 is
    what a follower is usually closest to).
    """
    usable = [f for level, fs in files.items() if level != SNAPSHOT_LEVEL for f in fs
              if f.max_txid > pos]  # fmt: skip
    chain: list[LTXFileInfo] = []
    while True:
        steps = [f for f in usable if f.min_txid <= pos + 1 and f.max_txid > pos]
        if not steps:
            return chain
        step = max(steps, key=lambda f: (f.max_txid, -f.level, -f.size))
        chain.append(step)
        pos = step.max_txid


class Follower:
    """Keeps ``output`` at the replica's newest TXID; see the module docstring."""

    def __init__(
        self,
        client: ReplicaClient,
        output: str | os.PathLike[str],
        *,
        interval: float = DEFAULT_INTERVAL,
        integrity_check: str = "none",
        overwrite: bool = False,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        self.client = client
        self.output = Path(output).absolute()
        self.interval = interval if interval > 0 else DEFAULT_INTERVAL
        self.integrity_check = integrity_check
        self.overwrite = overwrite
        self.emit = emit
        self.txid = 0
        self.page_size = 0
        self.commit = 0
        """The database's size in pages at ``txid``."""
        self._last_l0: Header | None = None
        """The header of the L0 file ending at ``txid``, when known (its WAL position)."""
        self._lost_polls = 0
        self._stop: asyncio.Event | None = None

    async def open(self) -> int:
        """Resume from the sidecar when the database exists, else restore it; the TXID."""
        exists = self.output.exists() and self.output.stat().st_size > 0
        if exists and not self.overwrite:
            await self._resume()
        else:
            await self._restore()
        return self.txid

    async def run(self, stop: asyncio.Event) -> None:
        """Open, then poll every interval until ``stop`` is set.

        Storage errors are logged and retried at the next interval, as in Go; a lost
        position (FollowError) ends the loop with that error. A stop during the first
        restore cancels it (nothing is left behind); later ones wait for the file being
        applied, so the database and its sidecar agree.
        """
        self._stop = stop
        opening = asyncio.ensure_future(self.open())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({opening, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not opening.done():
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
            log.info("follow mode stopped before the first restore finished")
            return
        opening.result()
        log.info("following the replica", extra={"db": str(self.output),
                 "txid": format_txid(self.txid), "interval": f"{self.interval:g}s"})  # fmt: skip
        failures = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if stop.is_set():
                break
            before = self.txid
            try:
                await self.poll()
            except FollowError:
                raise
            except (LitestreamError, OSError) as exc:
                failures += 1
                log.error("could not apply the replica's new changes; retrying",
                          extra={"db": str(self.output), "error": describe(exc),
                                 "failures": failures})  # fmt: skip
                continue
            failures = 0
            if self.txid != before:
                log.info("applied the replica's new changes", extra={"db": str(self.output),
                         "txid.min": format_txid(before + 1),
                         "txid.max": format_txid(self.txid)})  # fmt: skip
        log.info("stopped following the replica",
                 extra={"db": str(self.output), "txid": format_txid(self.txid)})  # fmt: skip

    async def poll(self) -> Applied:
        """Apply whatever the replica holds past our TXID; cheap when nothing is new.

        Level 0 is listed from the next TXID (one listing). Only when it does not
        continue from our TXID are all levels listed for a chain through compacted files.
        """
        l0 = [f async for f in self.client.ltx_files(0, seek=self.txid + 1)]
        l0.sort(key=lambda f: (f.min_txid, f.max_txid))
        chain = contiguous(l0, self.txid)
        if not chain and l0:
            chain = continuation(await list_files(self.client), self.txid)
            if not chain:
                self._lost_polls += 1
                if self._lost_polls >= LOST_POSITION_POLLS:
                    raise self._lost(max(f.max_txid for f in l0))
                return Applied(self.txid, ())
        self._lost_polls = 0
        if not chain:
            return Applied(self.txid, ())
        if self._last_l0 is None and chain[0].level == 0 and chain[0].min_txid == self.txid + 1:
            self._last_l0 = await l0_header_ending_at(self.client, self.txid)
        applied = await self._apply_chain(chain)
        return Applied(self.txid, tuple(applied))

    # -- start --------------------------------------------------------------------------

    async def _restore(self) -> None:
        """Restore beside the output, switch page 1 to rollback mode, record the TXID,
        then put the file in place: no reader ever sees the WAL-mode header."""
        if not self.overwrite and (reason := output_in_use(self.output)):
            raise RestoreError(reason, hint="use -force to replace it")
        fd, name = tempfile.mkstemp(dir=self.output.parent, prefix=f".{self.output.name}.",
                                    suffix=".follow")  # fmt: skip
        os.close(fd)
        staged = Path(name)
        try:
            result = await restore(
                self.client, staged, overwrite=True, integrity_check=self.integrity_check,
                emit=self.emit, meta_path=default_meta_path(self.output),
            )  # fmt: skip
            self.txid = result.txid
            await asyncio.to_thread(self._prepare_staged, staged)
            await asyncio.to_thread(write_sidecar, self.output, self.txid)
            await asyncio.to_thread(_publish, staged, self.output, self.overwrite)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()

    def _prepare_staged(self, staged: Path) -> None:
        with open(staged, "r+b") as f:
            self.page_size = _page_size(f)
            self.commit = os.fstat(f.fileno()).st_size // self.page_size
            _mark_page_one(f.fileno(), self.txid, self.commit)
            os.fsync(f.fileno())

    async def _resume(self) -> None:
        saved = read_sidecar(self.output)
        if saved is None:
            raise FollowError(
                f"cannot resume follow mode: database exists but no -txid file found: "
                f"{self.output}",
                hint="delete the database to restore it again, or use -force",
            )
        with open(self.output, "rb") as f:
            self.page_size = _page_size(f)
            self.commit = os.fstat(f.fileno()).st_size // self.page_size
        files = await list_files(self.client)
        newest = max((f.max_txid for fs in files.values() for f in fs), default=0)
        if saved > newest:
            raise FollowError(
                f"cannot resume follow mode: saved TXID {saved:016x} is ahead of the replica "
                f"(newest {newest:016x}); the replica was reset or replaced",
                hint=f"delete {self.output} and its -txid file to restore again",
            )
        self.txid = saved
        if saved < newest and not continuation(files, saved):
            raise self._lost(newest)
        log.info("resuming following the replica",
                 extra={"db": str(self.output), "txid": format_txid(saved)})  # fmt: skip

    def _lost(self, newest: int) -> FollowError:
        return FollowError(
            f"cannot follow from TXID {self.txid:016x}: the replica no longer holds the files "
            f"that continue it (its newest is {newest:016x}; retention removed them, or the "
            f"replica was reset)",
            hint=f"delete {self.output} and its -txid file to restore again",
        )

    # -- applying -----------------------------------------------------------------------

    async def _apply_chain(self, chain: Sequence[LTXFileInfo]) -> list[LTXFileInfo]:
        """Apply ``chain`` in batches; returns the files applied (a stop ends it early).

        Each batch is downloaded and verified whole first, then written under one hold
        of the lock with one fsync and one sidecar update: readers see the batch's last
        state at once, and a crash mid-batch is repaired by applying the batch again
        (every page written came from one of its files).
        """
        applied: list[LTXFileInfo] = []
        with contextlib.ExitStack() as spools:
            batch: list[_Staged] = []
            held = 0
            for info in chain:
                if self._stop is not None and self._stop.is_set():
                    break
                staged = await self._stage(info, spools)
                batch.append(staged)
                held += info.size
                if len(batch) >= BATCH_FILES or held >= BATCH_BYTES:
                    await asyncio.to_thread(self._write, batch)
                    applied += [b.info for b in batch]
                    batch, held = [], 0
                    spools.close()
            if batch:
                await asyncio.to_thread(self._write, batch)
                applied += [b.info for b in batch]
        return applied

    async def _stage(self, info: LTXFileInfo, spools: contextlib.ExitStack) -> _Staged:
        """Download ``info`` (into memory, or a spool file when large) and verify it."""
        if info.size <= SMALL_FILE:
            data = await fetch_bytes(self.client, info)
            staged = _Staged(info, lambda: io.BytesIO(data))
        else:
            spool = spools.enter_context(
                tempfile.TemporaryFile(dir=self.output.parent)  # noqa: SIM115 - the stack closes it
            )
            await download(self.client, info, spool)
            staged = _Staged(info, lambda: _rewound(spool))
        await asyncio.to_thread(staged.verify, self.page_size)
        return staged

    def _write(self, batch: Sequence[_Staged]) -> None:
        """Write verified files in order under SQLite's EXCLUSIVE lock."""
        txid, size, last_l0 = self.txid, self.page_size, self._last_l0
        commit = self.commit
        for staged in batch:
            header = staged.header
            if not header.min_txid <= txid + 1 <= header.max_txid:
                raise RestoreError(f"{staged.where} does not continue TXID {txid:016x}")
            if why := successor_problem(commit, last_l0, staged.info.level, header, staged.holds):
                raise FollowError(
                    f"{staged.where}: {why}; the replica holds files of another database",
                    hint="run litestream verify on the replica",
                )
            txid, commit = header.max_txid, header.commit
            last_l0 = header if staged.info.level == 0 else None
        last = batch[-1].header
        with open(self.output, "r+b", buffering=0) as db:
            fd = db.fileno()
            with _exclusive_lock(fd):
                for staged in batch:
                    for pgno, page in Decoder(staged.source()).pages():
                        os.pwrite(fd, page, (pgno - 1) * size)
                _mark_page_one(fd, last.max_txid, last.commit)
                os.fsync(fd)
                if os.fstat(fd).st_size != last.commit * size:
                    os.ftruncate(fd, last.commit * size)
                    os.fsync(fd)
        write_sidecar(self.output, last.max_txid)
        self.txid, self.commit, self._last_l0 = last.max_txid, last.commit, last_l0


class _Staged:
    """A downloaded LTX file: readable again from the start, verified before use."""

    def __init__(self, info: LTXFileInfo, source: Callable[[], BinaryIO]) -> None:
        self.info = info
        self.source = source
        self.where = f"LTX file {info.name} (level {info.level})"
        self._header: Header | None = None
        self._pages: list[int] = []

    @property
    def header(self) -> Header:
        assert self._header is not None, "verified first"
        return self._header

    def verify(self, page_size: int) -> None:
        decoder = Decoder(self.source())
        decoder.verify()
        header = decoder.header
        self._pages = sorted(decoder.page_index)
        if (header.min_txid, header.max_txid) != (self.info.min_txid, self.info.max_txid):
            raise RestoreError(f"{self.where}: header says TXIDs "
                               f"{header.min_txid:016x}-{header.max_txid:016x}")  # fmt: skip
        if header.page_size != page_size:
            raise RestoreError(f"{self.where}: page size {header.page_size}, "
                               f"the database has {page_size}")  # fmt: skip
        self._header = header

    def holds(self, first: int, last: int) -> bool:
        """Whether the file has every page from ``first`` to ``last``."""
        present = bisect.bisect_right(self._pages, last) - bisect.bisect_left(self._pages, first)
        return present == required_pages(first, last, self.header.page_size)


def contiguous(files: Sequence[LTXFileInfo], pos: int) -> list[LTXFileInfo]:
    """The run of ``files`` (ascending) that continues ``pos`` without a gap."""
    run = []
    for f in files:
        if f.max_txid <= pos:
            continue
        if f.min_txid > pos + 1:
            break
        run.append(f)
        pos = f.max_txid
    return run


def _page_size(f: BinaryIO) -> int:
    f.seek(16)
    raw = f.read(2)
    if len(raw) != 2:
        raise RestoreError("database file too short to hold a SQLite header")
    size = int.from_bytes(raw, "big")
    return 65536 if size == 1 else size


def reader_header(header: bytes, txid: int, commit: int) -> bytes:
    """A database header for readers of a changing file: rollback-journal mode (so they
    take the file locks, not a WAL's), a change counter that moves with every TXID (so
    they drop stale caches) and the size field, valid for that counter. The VFS serves
    its page 1 the same way."""
    out = bytearray(header)
    if len(out) < 100:
        raise RestoreError("database file too short to hold a SQLite header")
    counter = _HEADER_U32.pack(txid & 0xFFFFFFFF)
    out[18:20] = b"\x01\x01"
    out[24:28] = counter
    out[28:32] = _HEADER_U32.pack(commit)
    out[92:96] = counter
    return bytes(out)


def _mark_page_one(fd: int, txid: int, commit: int) -> None:
    os.pwrite(fd, reader_header(os.pread(fd, 100, 0), txid, commit), 0)


@contextlib.contextmanager
def _exclusive_lock(fd: int) -> Iterator[None]:
    """SQLite's EXCLUSIVE lock on the database file, waiting for readers to finish."""
    _lock_range(fd, _PENDING_BYTE, 1)
    try:
        _lock_range(fd, _SHARED_FIRST, _SHARED_SIZE)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, _SHARED_SIZE, _SHARED_FIRST)
    finally:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _PENDING_BYTE)


def _lock_range(fd: int, start: int, length: int) -> None:
    """A write lock on the range; polls rather than blocks, so a reader holding its
    lock for long never leaves a thread stuck where cancellation cannot reach it."""
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start)
            return
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
        time.sleep(_LOCK_RETRY)


def _publish(staged: Path, target: Path, overwrite: bool) -> None:
    """Move the prepared database into place; without ``overwrite`` only if absent."""
    if overwrite:
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{target}{suffix}").unlink()
        os.replace(staged, target)
    else:
        try:
            os.link(staged, target)
        except FileExistsError:
            if target.stat().st_size > 0:
                raise RestoreError(f"database already exists: {target}") from None
            os.replace(staged, target)
        staged.unlink(missing_ok=True)
    fsync_dir(target.parent)


def _rewound(f: BinaryIO) -> BinaryIO:
    f.seek(0)
    return f
