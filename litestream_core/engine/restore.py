"""Rebuilding a database from a replica without ever exposing a partial or wrong file.

The plan's files are applied in order to a temporary database beside the target, in
one worker thread. Files of a local (file) replica are read there directly; small
remote files are downloaded whole a few ahead, in parallel, and large ones streamed
into the worker a few chunks ahead, so memory stays bounded. Every file's own checksum
is verified. Where files carry database checksums (Go's files and ours carry none by
default) the database checksum is tracked page by page, so each such file's
pre-apply checksum must equal the state it is applied to and the result must equal
its post-apply checksum. Only then is the temporary file fsynced, optionally checked
by SQLite, and renamed into place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from litestream_core.client import LTXFileInfo, ReplicaClient
from litestream_core.compression import PageCodecs
from litestream_core.engine.continuity import PageCoverage, wal_break, whole_database_pages
from litestream_core.engine.identity import (
    DATABASE_ID_FILE,
    ReplicaIdentity,
    fingerprint_problem,
    read_identity,
    record_database_id,
)
from litestream_core.engine.integrity import DEFAULT_INTEGRITY_CHECK, INTEGRITY_CHECKS
from litestream_core.engine.meta import default_meta_path
from litestream_core.engine.page_writer import PageWriter
from litestream_core.engine.plan import RestorePlan, build_plan
from litestream_core.engine.replication_lock import refuse_if_replicated
from litestream_core.engine.streams import (
    LocalReplica,
    as_local_replica,
    fetch_bytes,
    stream_to,
)
from litestream_core.errors import (
    ChecksumMismatchError,
    IdentityError,
    LTXError,
    LTXNotFoundError,
    ReplicaClientError,
    ReplicaPermissionError,
    RestoreError,
)
from litestream_core.ltx import (
    HEADER_SIZE,
    DatabaseChecksum,
    Decoder,
    Header,
    checksum_database_file,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from litestream_core.events import Event, RestoreProgress

log = logging.getLogger("litestream.restore")

SIDECARS = ("-wal", "-shm", "-journal")
SMALL_FILE = 2 << 20
"""LTX files up to this size are read whole into memory; larger ones are streamed."""
_PROGRESS_EVERY = 4 << 20
_STOP_CHECK_PAGES = 4096
_READ_BUFFER = 1 << 20
_WRITE_RUN = 256
_STREAM_AHEAD = 4
"""Chunks (of up to 1 MiB) a streamed download may run ahead of decoding."""


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    txid: int
    plan: RestorePlan
    duration: float
    integrity_check: str


def output_in_use(path: Path) -> str | None:
    """Why restoring to ``path`` would replace something, or None (Go's overwrite guard)."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        if path.stat().st_size > 0:
            return f"database already exists: {path}"
    for suffix in SIDECARS:
        side = Path(f"{path}{suffix}")
        if side.exists():
            return f"database sidecar file exists: {side}"
    return None


async def restore(
    client: ReplicaClient,
    output: str | os.PathLike[str],
    *,
    txid: int | None = None,
    timestamp: datetime | None = None,
    plan: RestorePlan | None = None,
    overwrite: bool = False,
    integrity_check: str = DEFAULT_INTEGRITY_CHECK,
    parallelism: int = 4,
    emit: Callable[[Event], None] | None = None,
    meta_path: str | os.PathLike[str] | None = None,
    codecs: PageCodecs | None = None,
) -> RestoreResult:
    """Restore the replica's state at ``txid``/``timestamp`` (newest by default) to ``output``.

    Raises RestoreError (or an LTX/replica error) and leaves ``output`` untouched when
    anything is wrong; replaces an existing database only with ``overwrite``, and never
    one that a live replicator holds (its lock is in ``meta_path``, by default Go's
    directory beside the database). ``codecs`` are the page codecs files may name (LZ4
    only when None). When the replica has an identity, that meta directory records the
    restored database's ID, so replicating the restored database to the same replica is
    the same database again.
    """
    if integrity_check not in INTEGRITY_CHECKS:
        raise RestoreError(f"invalid integrity check {integrity_check!r} (none, quick, full)")
    started = time.monotonic()
    target = Path(output).absolute()
    if target.is_dir():
        raise RestoreError(f"output path is a directory: {output}", hint="give a file path")
    meta = Path(meta_path) if meta_path is not None else default_meta_path(target)
    refuse_if_replicated(target, meta, "restoring over it")
    if not overwrite and (reason := output_in_use(target)):
        raise RestoreError(reason, hint="use -force to replace it")
    identity = await checked_identity(client)
    if plan is None:
        plan = await build_plan(client, txid=txid, timestamp=timestamp)

    await asyncio.to_thread(_make_parent, target)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as a newly created file, not mkstemp's 0600
        applier = _Applier(fd, target, plan.total_bytes, emit, asyncio.get_running_loop(), codecs)
        try:
            applier.l0_before = await boundary_headers(client, plan)
            if (local := as_local_replica(client)) is not None:
                await _in_worker(applier, lambda: _apply_local(local, plan, applier))
            else:
                await _apply_remote(client, plan, applier, max(1, parallelism))
        finally:
            await _closed(applier)
        if applier.txid != plan.txid:
            raise RestoreError(
                f"restore ended at TXID {applier.txid:016x}, expected {plan.txid:016x}"
            )
        applier.check_complete()
        applier.writer.raise_error()  # a background sync's failure fails the restore
        await asyncio.to_thread(os.fsync, fd)
        os.close(fd)
        fd = -1
        if emit is not None:
            emit(applier.event(plan.total_bytes))
        if integrity_check != "none":
            await asyncio.to_thread(_integrity_check, tmp, integrity_check)
        await asyncio.to_thread(_put_in_place, tmp, target, overwrite)
        await asyncio.to_thread(_record_origin, meta, identity)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    duration = time.monotonic() - started
    if emit is not None:
        from litestream_core.events import RestoreCompleted  # only with a listener: start-up

        emit(RestoreCompleted(output_path=str(target), txid=plan.txid, duration_seconds=duration))
    return RestoreResult(
        path=target, txid=plan.txid, plan=plan, duration=duration, integrity_check=integrity_check
    )


async def checked_identity(client: ReplicaClient) -> ReplicaIdentity | None:
    """The replica's identity, after checking it names this replica's files.

    A damaged identity object is only reported: the chain checks decide whether the
    files restore, and the object can be rewritten (``reset -takeover``).
    """
    try:
        identity = await read_identity(client)
    except IdentityError as exc:
        log.warning("the replica's identity is unreadable; restoring without it",
                    extra={"error": exc.one_line()})  # fmt: skip
        return None
    if identity is not None and (problem := await fingerprint_problem(client, identity)):
        raise RestoreError(problem, hint="run litestream verify on the replica")
    return identity


def _record_origin(meta_path: Path, identity: ReplicaIdentity | None) -> None:
    """Note which database the restored file is (or forget a stale note)."""
    try:
        if identity is not None:
            record_database_id(meta_path, identity.database_id)
        else:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                (meta_path / DATABASE_ID_FILE).unlink()
    except OSError as exc:
        log.warning("restored database's ID not recorded",
                    extra={"path": str(meta_path), "error": str(exc)})  # fmt: skip


async def boundary_headers(client: ReplicaClient, plan: RestorePlan) -> dict[int, Header]:
    """Headers of the L0 files that end right before each L0 file the plan reaches from
    a compacted file or snapshot, so its WAL continuity is checked there too.

    Only their 100-byte headers are read, and only where such an L0 file is still on the
    replica (usually one boundary per restore; retention removes older L0 files).
    """
    found: dict[int, Header] = {}
    for prev, cur in zip((None, *plan.files), plan.files, strict=False):
        if cur.level != 0 or cur.min_txid <= 1 or (prev is not None and prev.level == 0):
            continue
        if (header := await l0_header_ending_at(client, cur.min_txid - 1)) is not None:
            found[cur.min_txid] = header
    return found


async def l0_header_ending_at(client: ReplicaClient, txid: int) -> Header | None:
    """The header of the L0 file ending at ``txid``, if the replica still has a sound one
    (a damaged neighbour nothing applies gives nothing to compare with)."""
    listing = client.ltx_files(0, seek=txid)
    try:
        before = await anext(aiter(listing), None)
    finally:
        if (aclose := getattr(listing, "aclose", None)) is not None:
            await aclose()  # the rest of the listing is not needed
    if before is None or before.max_txid != txid or before.size < HEADER_SIZE:
        return None
    stream = await client.open_ltx_file(0, before.min_txid, before.max_txid, offset=0,
                                        size=HEADER_SIZE)  # fmt: skip
    async with stream:
        head = await stream.readall()
    try:
        return Header.decode(head[:HEADER_SIZE])
    except LTXError:
        return None


async def _in_worker(
    applier: _Applier, work: Callable[[], None], on_cancel: Callable[[], object] | None = None
) -> None:
    """Run ``work`` in a thread; on cancellation stop it and wait, so it never outlives us.

    The temporary database is closed and deleted after this returns, which must not
    happen while the thread still writes to it. ``on_cancel`` unblocks a worker that
    waits for a download.
    """
    future = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        applier.stop.set()  # seen within a few thousand pages
        if on_cancel is not None:
            on_cancel()
        while not future.done():  # even if cancelled again: its descriptor must stay open
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({future})
        if not future.cancelled():
            future.exception()  # the worker's "cancelled" error: retrieved, not logged
        raise


async def _closed(applier: _Applier) -> None:
    """Stop the applier's background sync in a thread (one may be in progress), waiting
    even if cancelled: the file is synced, or closed and deleted, right after this."""
    closing = asyncio.ensure_future(asyncio.to_thread(applier.close))
    while not closing.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({closing})
    closing.result()


def _apply_local(client: LocalReplica, plan: RestorePlan, applier: _Applier) -> None:
    """Read and apply every file straight from the replica directory (one thread)."""
    dirs: dict[int, str] = {}
    for info in plan.files:
        path = _local_path(client, info, dirs)
        try:
            raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise LTXNotFoundError(
                f"LTX file not found: {path}", op="open", level=info.level,
                min_txid=info.min_txid, max_txid=info.max_txid,
            ) from None  # fmt: skip
        except OSError as exc:
            raise _read_error(path, info, exc) from None
        with raw:
            try:
                small = os.fstat(raw.fileno()).st_size <= SMALL_FILE
                src: BinaryIO = (
                    io.BytesIO(raw.readall()) if small
                    else io.BufferedReader(raw, _READ_BUFFER)
                )  # fmt: skip
                applier.apply(src, info)
            except OSError as exc:
                raise _read_error(path, info, exc) from None


def _local_path(client: LocalReplica, info: LTXFileInfo, dirs: dict[int, str]) -> str:
    """The file's path; pathlib per file would cost more than reading a small file.

    Each level's directory is taken from the client's own answer for its first file,
    checked to be that directory plus the file's name.
    """
    level_dir = dirs.get(info.level)
    if level_dir is None:
        path = os.fspath(client.file_path(info.level, info.min_txid, info.max_txid))
        level_dir, name = os.path.split(path)
        if name != info.name:
            raise RestoreError(f"unexpected LTX file name {path} for {info.name}")
        dirs[info.level] = level_dir
        return path
    return os.path.join(level_dir, info.name)


def _read_error(path: str, info: LTXFileInfo, exc: OSError) -> ReplicaClientError:
    """As the file backend reports it: a permission problem is not worth retrying."""
    kind = ReplicaPermissionError if isinstance(exc, PermissionError) else ReplicaClientError
    return kind(
        f"read {path}: {exc.strerror or exc}", op="read", level=info.level,
        min_txid=info.min_txid, max_txid=info.max_txid,
    )  # fmt: skip


async def _apply_remote(
    client: ReplicaClient, plan: RestorePlan, applier: _Applier, window: int
) -> None:
    """Keep up to ``window`` downloads of small files running ahead of the one applied.

    Small files come whole (at most ``window`` of them, each at most SMALL_FILE, are
    held at once); a larger one is streamed into the worker while it is applied, as Go
    does, a few chunks ahead, so nothing is spooled and download and decoding overlap.
    """

    async def fetch(info: LTXFileInfo) -> bytes | None:
        return await fetch_bytes(client, info) if 0 < info.size <= SMALL_FILE else None

    files = plan.files
    tasks: dict[int, asyncio.Task[bytes | None]] = {}
    started = 0
    try:
        for index, info in enumerate(files):
            while started < min(len(files), index + window):
                tasks[started] = asyncio.create_task(fetch(files[started]))
                started += 1
            data = await tasks.pop(index)  # dropped once applied: bounded memory
            if data is None:
                await _stream_and_apply(client, info, applier)
            else:
                src = io.BytesIO(data)
                await _in_worker(applier, functools.partial(applier.apply, src, info))
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def _stream_and_apply(client: ReplicaClient, info: LTXFileInfo, applier: _Applier) -> None:
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
    room = asyncio.Semaphore(_STREAM_AHEAD)

    async def put(chunk: bytes) -> None:
        await room.acquire()
        chunks.put_nowait(chunk)

    async def produce() -> None:
        # The worker always gets an end: the file's, or the reason there is none.
        try:
            await stream_to(client, info, put)
        except asyncio.CancelledError:
            chunks.put_nowait(RestoreError(f"download of {info.name} cancelled"))
            raise
        except Exception as exc:
            chunks.put_nowait(exc)
            raise
        chunks.put_nowait(None)

    producer = asyncio.create_task(produce())
    reader = io.BufferedReader(_ChunkReader(loop, chunks, room), _READ_BUFFER)
    try:
        await _in_worker(applier, lambda: applier.apply(reader, info), producer.cancel)
    finally:
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)


class _ChunkReader(io.RawIOBase):
    """A remote file's bytes for the worker thread, as the event loop downloads them."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        chunks: asyncio.Queue[bytes | Exception | None],
        room: asyncio.Semaphore,
    ) -> None:
        self._loop = loop
        self._chunks = chunks
        self._room = room
        self._buf = memoryview(b"")
        self._eof = False
        self._pos = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes read so far (progress reports ask; there is no seeking)."""
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._buf:
            if self._eof:
                return 0
            got = asyncio.run_coroutine_threadsafe(self._chunks.get(), self._loop).result()
            if got is None:
                self._eof = True
                return 0
            if isinstance(got, Exception):
                self._eof = True
                raise got
            self._loop.call_soon_threadsafe(self._room.release)
            self._buf = memoryview(got)
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._buf))
        out[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self._pos += n
        return n


class _Applier:
    """Applies LTX files in order to the temporary database (from one thread at a time).

    The database checksum is only tracked while it can be checked: from a snapshot
    that carries it, or recomputed from the file when the first checksummed
    incremental file arrives; files without checksums (Go's) stop the tracking, since
    reading every old page back would cost a read per page for nothing to compare.
    """

    def __init__(
        self,
        fd: int,
        target: Path,
        total: int,
        emit: Callable[[Event], None] | None,
        loop: asyncio.AbstractEventLoop,
        codecs: PageCodecs | None = None,
    ) -> None:
        self.fd = fd
        self.codecs = codecs
        self.target = target
        self.total = total
        self.emit = emit
        self.loop = loop
        self.stop = threading.Event()
        self.txid = 0
        self.commit = 0
        self.page_size = 0
        self.checksum: DatabaseChecksum | None = None
        self.done = 0
        self.reported = 0
        self.coverage = PageCoverage()
        self.last_l0: Header | None = None
        """Header of the last file applied if it was an L0 file (its WAL position)."""
        self.l0_before: dict[int, Header] = {}
        """Headers of L0 files ending right before a file the plan reaches from a
        compacted file or snapshot, by that file's min TXID (see boundary_headers)."""
        self.writer = PageWriter(fd, f"restored database {target}")
        """Writes the pages; syncs what it wrote in the background (page_writer.py)."""

    def close(self) -> None:
        """Stop the background sync (before the file is synced, closed or deleted)."""
        self.writer.close()

    def apply(self, src: BinaryIO, info: LTXFileInfo) -> None:
        if self.stop.is_set():
            raise RestoreError("restore cancelled")
        dec = Decoder(src, self.codecs)
        hdr = dec.header
        if (hdr.min_txid, hdr.max_txid) != (info.min_txid, info.max_txid):
            raise RestoreError(
                f"{_where(info)}: header says TXIDs {hdr.min_txid:016x}-{hdr.max_txid:016x}"
            )
        fd, size = self.fd, hdr.page_size
        if hdr.is_snapshot:
            os.ftruncate(fd, 0)
            self.checksum, self.commit, self.page_size = None, 0, size
        elif self.txid == 0 or hdr.min_txid > self.txid + 1:
            raise RestoreError(f"{_where(info)} does not continue TXID {self.txid:016x}")
        elif size != self.page_size:
            raise RestoreError(f"{_where(info)}: page size changed to {size}")
        elif hdr.no_checksum:
            self.checksum = None
        else:
            self._check_pre_apply(hdr.min_txid, hdr.pre_apply_checksum, info)
        checksum, commit, stop, coverage = self.checksum, self.commit, self.stop, self.coverage
        coverage.start_file(hdr.commit, hdr.is_snapshot)
        run: list[bytes] = []  # consecutive pages, written with one system call
        first = written = 0
        write = self.writer.write
        for written, (pgno, data) in enumerate(dec.pages(), start=1):
            if checksum is not None:
                if pgno <= commit:  # pages only ascend in a file: not in ``run`` yet
                    old = os.pread(fd, size, (pgno - 1) * size)
                    if len(old) == size:
                        checksum.remove(pgno, old)
                checksum.add(pgno, data)
            if run and (pgno != first + len(run) or len(run) == _WRITE_RUN):
                write(run, (first - 1) * size)
                coverage.mark(first, len(run))
                run = []
            if not run:
                first = pgno
            run.append(data)
            if written % _STOP_CHECK_PAGES == 0:
                if stop.is_set():
                    raise RestoreError("restore cancelled")
                self._progress(src.tell())
        if run:
            write(run, (first - 1) * size)
            coverage.mark(first, len(run))
        trailer = dec.trailer
        coverage.end_file(hdr.commit)
        self._check_continuity(info, hdr, written)
        if checksum is not None:
            for pgno in range(hdr.commit + 1, commit + 1):
                old = os.pread(fd, size, (pgno - 1) * size)
                if len(old) == size:
                    checksum.remove(pgno, old)
        if hdr.commit != commit or hdr.is_snapshot:
            os.ftruncate(fd, hdr.commit * size)
        self.commit, self.txid = hdr.commit, hdr.max_txid
        if hdr.is_snapshot and not hdr.no_checksum:
            # The decoder checked the trailer's checksum against the snapshot's pages.
            self.checksum = DatabaseChecksum(trailer.post_apply_checksum)
        elif checksum is not None and trailer.post_apply_checksum != checksum.value:
            raise ChecksumMismatchError(
                f"{_where(info)}: database checksum after applying is "
                f"{checksum.value:016x}, the file says {trailer.post_apply_checksum:016x}"
            )
        self.done += src.tell()
        self._progress(0)

    def _check_continuity(self, info: LTXFileInfo, hdr: Header, pages: int) -> None:
        """Refuse an L0 file that cannot follow the L0 file before it (continuity.py)."""
        prev = self.last_l0 if hdr.min_txid == self.txid + 1 else None
        if prev is None and info.level == 0:
            prev = self.l0_before.get(hdr.min_txid)
        whole = pages == whole_database_pages(hdr.commit, hdr.page_size)
        if info.level == 0 and prev is not None and (why := wal_break(prev, hdr, whole)):
            raise RestoreError(
                f"{_where(info)} cannot follow TXID {hdr.min_txid - 1:016x}: {why}; the "
                "replica holds files of another database",
                hint="run litestream verify on the replica",
            )
        self.last_l0 = hdr if info.level == 0 else None

    def check_complete(self) -> None:
        """Every page up to the commit size must have come from the chain (Go checks too)."""
        missing = self.coverage.first_missing(self.page_size)
        if missing is not None:
            raise RestoreError(
                f"page {missing} of the database at TXID {self.txid:016x} is in no file of "
                f"the chain (commit size {self.commit} pages): its files do not belong to "
                "one database",
                hint="run litestream verify on the replica",
            )

    def _check_pre_apply(self, min_txid: int, pre_apply: int, info: LTXFileInfo) -> None:
        """A checksummed file must start from exactly the database built so far.

        Only checkable when it starts right after the current TXID (an overlapping
        compacted file starts from an earlier state).
        """
        if self.checksum is None:
            with open(self.fd, "rb", closefd=False) as db:
                db.seek(0)
                self.checksum = DatabaseChecksum(checksum_database_file(db, self.page_size))
        if min_txid == self.txid + 1 and pre_apply != self.checksum.value:
            raise ChecksumMismatchError(
                f"{_where(info)}: pre-apply checksum {pre_apply:016x} does not match the "
                f"database at TXID {self.txid:016x} ({self.checksum.value:016x})"
            )

    def event(self, done: int) -> RestoreProgress:
        from litestream_core.events import RestoreProgress

        return RestoreProgress(
            output_path=str(self.target), done_bytes=min(done, self.total),
            total_bytes=self.total,
        )  # fmt: skip

    def _progress(self, partial: int) -> None:
        """Report from the worker thread, at most every _PROGRESS_EVERY bytes."""
        done = self.done + partial
        if self.emit is not None and done - self.reported >= _PROGRESS_EVERY:
            self.reported = done
            self.loop.call_soon_threadsafe(self.emit, self.event(done))


def _make_parent(target: Path) -> None:
    """Create the output's missing directories, as Go's restore does."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RestoreError(f"output directory is not a directory: {target.parent}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _where(info: LTXFileInfo) -> str:
    return f"LTX file {info.name} (level {info.level})"


def _integrity_check(path: Path, mode: str) -> None:
    """Run SQLite's own check on the temporary file before anyone can see it."""
    import sqlite3  # only for this check: keeps the restore command's start-up short

    pragma = "quick_check" if mode == "quick" else "integrity_check"
    uri = f"{path.as_uri()}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"integrity check failed: {exc}") from None
    if rows != ["ok"]:
        raise RestoreError(f"integrity check failed: {'; '.join(map(str, rows[:3]))}")


def _put_in_place(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename into place (removing stale sidecars first when replacing), then fsync the dir.

    Sidecars go first: a leftover WAL beside the new file would be replayed over it.
    Without ``overwrite`` a hard link makes "create only if absent" atomic.
    """
    if overwrite:
        for suffix in SIDECARS:
            with contextlib.suppress(FileNotFoundError):
                Path(f"{target}{suffix}").unlink()
        os.replace(tmp, target)
    elif target.exists():
        if (reason := output_in_use(target)) is not None:
            raise RestoreError(reason, hint="use -force to replace it")
        os.replace(tmp, target)  # an empty file, which Go also allows to be replaced
    else:
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise RestoreError(f"database already exists: {target}") from None
        except OSError:
            os.replace(tmp, target)  # filesystems without hard links
        else:
            tmp.unlink()
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
