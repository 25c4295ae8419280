"""Rebuilding a database from a replica without ever exposing a partial or wrong file.

Files are downloaded (a few ahead, in parallel) to spool files beside the target, then
applied in plan order to a temporary database beside the target. Every file's own
checksum is verified, and the database checksum is carried along page by page, so
each file's pre-apply checksum must equal the state it is applied to and the result
must equal the last file's post-apply checksum. Only then is the temporary file
fsynced, optionally checked by SQLite, and renamed into place.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from litestream_core.client import LTXFileInfo, ReplicaClient
from litestream_core.engine.plan import RestorePlan, build_plan
from litestream_core.engine.streams import download
from litestream_core.errors import ChecksumMismatchError, RestoreError
from litestream_core.events import Event, RestoreCompleted, RestoreProgress
from litestream_core.ltx import DatabaseChecksum, Decoder

SIDECARS = ("-wal", "-shm", "-journal")
INTEGRITY_CHECKS = ("none", "quick", "full")
_PROGRESS_EVERY = 4 << 20


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    txid: int
    plan: RestorePlan
    duration: float
    integrity_check: str


def output_in_use(path: Path) -> str | None:
    """Why restoring to ``path`` would replace something, or None (Go's overwrite guard)."""
    with contextlib.suppress(FileNotFoundError):
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
    integrity_check: str = "none",
    parallelism: int = 4,
    emit: Callable[[Event], None] | None = None,
) -> RestoreResult:
    """Restore the replica's state at ``txid``/``timestamp`` (newest by default) to ``output``.

    Raises RestoreError (or an LTX/replica error) and leaves ``output`` untouched when
    anything is wrong; replaces an existing database only with ``overwrite``.
    """
    if integrity_check not in INTEGRITY_CHECKS:
        raise RestoreError(f"invalid integrity check {integrity_check!r} (none, quick, full)")
    started = time.monotonic()
    target = Path(output).absolute()
    if not overwrite and (reason := output_in_use(target)):
        raise RestoreError(reason, hint="use -force to replace it")
    if not target.parent.is_dir():
        raise RestoreError(f"output directory does not exist: {target.parent}")
    if plan is None:
        plan = await build_plan(client, txid=txid, timestamp=timestamp)

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    os.fchmod(fd, 0o666 & ~_umask())  # as a newly created file, not mkstemp's 0600
    spool = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.ltx-"))
    try:
        with os.fdopen(fd, "r+b") as db:
            applier = _Applier(db, target, plan.total_bytes, emit)
            await _download_and_apply(client, plan, spool, applier, max(1, parallelism))
            if applier.txid != plan.txid:
                raise RestoreError(
                    f"restore ended at TXID {applier.txid:016x}, expected {plan.txid:016x}"
                )
            db.flush()
            await asyncio.to_thread(os.fsync, db.fileno())
        if integrity_check != "none":
            await asyncio.to_thread(_integrity_check, tmp, integrity_check)
        await asyncio.to_thread(_put_in_place, tmp, target, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    duration = time.monotonic() - started
    if emit is not None:
        emit(RestoreCompleted(output_path=str(target), txid=plan.txid, duration_seconds=duration))
    return RestoreResult(
        path=target, txid=plan.txid, plan=plan, duration=duration, integrity_check=integrity_check
    )


async def _download_and_apply(
    client: ReplicaClient, plan: RestorePlan, spool: Path, applier: _Applier, window: int
) -> None:
    """Keep up to ``window`` downloads running ahead of the file being applied."""

    async def fetch(index: int, info: LTXFileInfo) -> Path:
        path = spool / f"{index:06d}-{info.level}-{info.name}"
        with path.open("wb") as out:
            await download(client, info, out)
        return path

    tasks: list[asyncio.Task[Path]] = []
    try:
        for index, info in enumerate(plan.files):
            while len(tasks) < min(len(plan.files), index + window):
                n = len(tasks)
                tasks.append(asyncio.create_task(fetch(n, plan.files[n])))
            path = await tasks[index]
            loop = asyncio.get_running_loop()
            await asyncio.to_thread(applier.apply, path, info, loop)
            applier.report()
            path.unlink()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Applier:
    """Applies LTX files in order to the temporary database, tracking its checksum."""

    def __init__(
        self, db: BinaryIO, target: Path, total: int, emit: Callable[[Event], None] | None
    ) -> None:
        self.db = db
        self.target = target
        self.total = total
        self.emit = emit
        self.txid = 0
        self.commit = 0
        self.page_size = 0
        self.checksum = DatabaseChecksum()
        self.done = 0

    def apply(self, path: Path, info: LTXFileInfo, loop: asyncio.AbstractEventLoop) -> None:
        with path.open("rb") as src:
            dec = Decoder(src)
            hdr = dec.header
            if (hdr.min_txid, hdr.max_txid) != (info.min_txid, info.max_txid):
                raise RestoreError(
                    f"{_where(info)}: header says TXIDs {hdr.min_txid:016x}-{hdr.max_txid:016x}"
                )
            if hdr.is_snapshot:
                self.db.truncate(0)
                self.checksum, self.commit, self.page_size = DatabaseChecksum(), 0, hdr.page_size
            elif self.txid == 0 or hdr.min_txid > self.txid + 1:
                raise RestoreError(f"{_where(info)} does not continue TXID {self.txid:016x}")
            elif hdr.page_size != self.page_size:
                raise RestoreError(f"{_where(info)}: page size changed to {hdr.page_size}")
            elif (
                hdr.min_txid == self.txid + 1
                and not hdr.no_checksum
                and hdr.pre_apply_checksum != self.checksum.value
            ):
                raise ChecksumMismatchError(
                    f"{_where(info)}: pre-apply checksum {hdr.pre_apply_checksum:016x} does "
                    f"not match the database at TXID {self.txid:016x} "
                    f"({self.checksum.value:016x})"
                )
            fd, size = self.db.fileno(), hdr.page_size
            reported = 0
            for pgno, data in dec.pages():
                offset = (pgno - 1) * size
                if pgno <= self.commit:
                    old = os.pread(fd, size, offset)
                    if len(old) == size:
                        self.checksum.remove(pgno, old)
                os.pwrite(fd, data, offset)
                self.checksum.add(pgno, data)
                if src.tell() - reported >= _PROGRESS_EVERY:
                    self._progress(src.tell() - reported, loop)
                    reported = src.tell()
            trailer = dec.trailer
            for pgno in range(hdr.commit + 1, self.commit + 1):
                old = os.pread(fd, size, (pgno - 1) * size)
                if len(old) == size:
                    self.checksum.remove(pgno, old)
            os.ftruncate(fd, hdr.commit * size)
            self.commit, self.txid = hdr.commit, hdr.max_txid
            if not hdr.no_checksum and trailer.post_apply_checksum != self.checksum.value:
                raise ChecksumMismatchError(
                    f"{_where(info)}: database checksum after applying is "
                    f"{self.checksum.value:016x}, the file says {trailer.post_apply_checksum:016x}"
                )
            self.done += src.tell() - reported

    def report(self) -> None:
        """Progress after a whole file, from the loop so it precedes RestoreCompleted."""
        if self.emit is not None:
            self.emit(self._event())

    def _event(self) -> RestoreProgress:
        return RestoreProgress(
            output_path=str(self.target), done_bytes=min(self.done, self.total),
            total_bytes=self.total,
        )  # fmt: skip

    def _progress(self, delta: int, loop: asyncio.AbstractEventLoop) -> None:
        self.done += delta
        if self.emit is not None:
            loop.call_soon_threadsafe(self.emit, self._event())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _where(info: LTXFileInfo) -> str:
    return f"LTX file {info.name} (level {info.level})"


def _integrity_check(path: Path, mode: str) -> None:
    """Run SQLite's own check on the temporary file before anyone can see it."""
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
