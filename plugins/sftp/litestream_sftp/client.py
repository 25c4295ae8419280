"""The SFTP ReplicaClient (paramiko), laid out on the server exactly as Go Litestream's.

Files live at ``<path>/ltx/<level>/<min>-<max>.ltx``. An upload goes to
``<file>.<pid>.<nanoseconds>.tmp``, gets its modification time set to the LTX header's
timestamp (Go's ``Chtimes``), and is renamed into place, so a listing never shows half
a file. SFTP keeps whole seconds only, so ``use_metadata`` listings read each file's
header for the exact millisecond timestamp that point-in-time restore needs.

paramiko is blocking and one SFTP channel does not multiplex safely between threads:
every call runs, in order, on the client's own worker thread (so a slow server never
ties up the event loop's shared thread pool) and under one lock. A dropped connection
is closed and reported as TransientReplicaError; the next call reconnects.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import io
import logging
import posixpath
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO, Any, ClassVar, TypeVar

import paramiko

from litestream_core.backend_support.legacy import LEGACY_DIR, legacy_key
from litestream_core.backend_support.listing import ltx_range
from litestream_core.backend_support.spool import spool_ltx
from litestream_core.backend_support.tempfiles import is_stale, is_temp_name, temp_name
from litestream_core.backend_support.timestamps import (
    ms_to_datetime,
    stored_timestamp,
    upload_timestamp,
)
from litestream_core.client import (
    AsyncByteStream,
    LegacyFileInfo,
    LTXData,
    LTXFileInfo,
    ReplicaClient,
    ReplicaURL,
)
from litestream_core.errors import (
    LTXFormatError,
    LTXNotFoundError,
    ObjectExistsError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.ltx.header import HEADER_SIZE, format_filename
from litestream_sftp.config import SFTPConfig, resolve_config
from litestream_sftp.connection import Session, open_session

log = logging.getLogger("litestream.sftp")

T = TypeVar("T")
_COPY_CHUNK = 1 << 20
_SFTP_REQUEST = 32 << 10
_CONNECTION_ERRORS = (paramiko.SSHException, EOFError, TimeoutError, ConnectionError)


def _read_at(handle: paramiko.SFTPFile, pos: int, size: int) -> bytes:
    """``size`` bytes at ``pos``, asked for in parallel requests when there are many.

    One SFTP read returns at most 32 KiB, so reading request by request would wait a
    network round trip per 32 KiB.
    """
    if size <= _SFTP_REQUEST:
        handle.seek(pos)
        return handle.read(size)
    ranges = [
        (off, min(_SFTP_REQUEST, pos + size - off)) for off in range(pos, pos + size, _SFTP_REQUEST)
    ]
    return b"".join(handle.readv(ranges))


class _WriteCancelled(Exception):
    """The caller of an upload was cancelled before the file was renamed into place."""


class SFTPReplicaClient(ReplicaClient):
    """Replica on an SFTP server; see the module docstring for the layout and threading."""

    type: ClassVar[str] = "sftp"

    def __init__(self, config: SFTPConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._generation = 0
        """Bumped on every reconnect, so open files of an older session are refused."""
        self._closed = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litestream-sftp")
        self._orphans: set[str] = set()
        """Temporary files a failed upload could not remove (the link was down)."""

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> SFTPReplicaClient:
        return cls(resolve_config(url, options))

    def __repr__(self) -> str:
        return f"SFTPReplicaClient({self.config.user}@{self.config.address}:{self.config.path})"

    # -- paths ----------------------------------------------------------------------

    def _level_dir(self, level: int) -> str:
        return posixpath.normpath(posixpath.join(self.config.path, "ltx", str(level)))

    def _file_path(self, level: int, min_txid: int, max_txid: int) -> str:
        return posixpath.join(self._level_dir(level), format_filename(min_txid, max_txid))

    # -- running blocking calls -----------------------------------------------------

    def _reset(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
            self._generation += 1

    def _current_session(self) -> Session:
        if self._closed:
            raise ReplicaClientError("sftp replica client is closed", op="use")
        if self._session is not None and not self._session.transport.is_active():
            self._reset()
        if self._session is None:
            self._session = open_session(self.config)
        return self._session

    def _translate(self, op: str, exc: Exception, where: Mapping[str, Any]) -> Exception:
        """A core error for a failed SFTP call; drops the session if the link is gone."""
        session = self._session
        link_down = session is None or not session.transport.is_active()
        if isinstance(exc, _CONNECTION_ERRORS) or (link_down and isinstance(exc, OSError)):
            self._reset()
            return TransientReplicaError(
                f"sftp: connection to {self.config.address} lost during {op}: {exc}",
                op=op,
                **where,
            )
        if isinstance(exc, FileNotFoundError):
            return LTXNotFoundError(
                f"sftp: {op}: no such file {exc.filename or ''}", op=op, **where
            )
        if isinstance(exc, PermissionError):
            return ReplicaPermissionError(
                f"sftp: {op}: permission denied on {self.config.address}", op=op, **where
            )
        return ReplicaClientError(
            f"sftp: {op} failed on {self.config.address}: {exc}", op=op, **where
        )

    def _call(self, op: str, fn: Callable[[paramiko.SFTPClient], T], where: Mapping[str, Any]) -> T:
        with self._lock:
            session = self._current_session()
            try:
                return fn(session.sftp)
            except (ReplicaClientError, LTXFormatError, _WriteCancelled):
                raise
            except Exception as exc:
                raise self._translate(op, exc, where) from exc

    async def _run(self, op: str, fn: Callable[[paramiko.SFTPClient], T], **where: Any) -> T:
        return await self._submit(self._call, op, fn, where)

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the worker thread."""
        closed = ReplicaClientError("sftp replica client is closed", op="use")
        if self._closed:
            raise closed
        try:
            done = asyncio.get_running_loop().run_in_executor(
                self._worker, functools.partial(fn, *args)
            )
        except RuntimeError:  # the worker was shut down by a concurrent close()
            raise closed from None
        return await done

    def _file_call(self, generation: int, op: str, fn: Callable[[], T]) -> T:
        """Use a file handle, but only on the session that opened it."""
        with self._lock:
            if generation != self._generation or self._session is None:
                raise TransientReplicaError(
                    f"sftp: connection to {self.config.address} was reset; reopen the file",
                    op=op,
                )
            try:
                return fn()
            except Exception as exc:
                raise self._translate(op, exc, {}) from exc

    # -- ReplicaClient --------------------------------------------------------------

    async def init(self) -> None:
        await self._run("init", lambda sftp: None)

    async def close(self) -> None:
        def close_now() -> None:
            with self._lock:
                self._closed = True
                self._reset()

        try:
            await self._submit(close_now)
        except ReplicaClientError:
            return  # closed already
        self._worker.shutdown(wait=False)

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        infos = await self._run(
            "list", lambda sftp: self._list(sftp, level, seek, use_metadata), level=level
        )
        for info in infos:
            yield info

    def _list(
        self, sftp: paramiko.SFTPClient, level: int, seek: int, use_metadata: bool
    ) -> list[LTXFileInfo]:
        directory = self._level_dir(level)
        try:
            entries = sftp.listdir_attr(directory)
        except FileNotFoundError:
            return []
        infos: list[LTXFileInfo] = []
        for entry in entries:
            txids = ltx_range(entry.filename, seek)
            if txids is None or entry.st_mode is None or not stat.S_ISREG(entry.st_mode):
                continue
            min_txid, max_txid = txids
            created_at = datetime.fromtimestamp(entry.st_mtime or 0, UTC)
            if use_metadata:
                try:
                    with sftp.open(posixpath.join(directory, entry.filename), "rb") as f:
                        timestamp = stored_timestamp(f.read(HEADER_SIZE))
                except FileNotFoundError:
                    continue  # deleted since the directory was read
                if timestamp is None:
                    log.warning("sftp: file has no LTX header; using its modification time",
                                extra={"path": f"{directory}/{entry.filename}"})  # fmt: skip
                else:
                    created_at = ms_to_datetime(timestamp)
            infos.append(LTXFileInfo(level, min_txid, max_txid, entry.st_size or 0, created_at))
        infos.sort(key=lambda info: (info.min_txid, info.max_txid))
        return infos

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        path = self._file_path(level, min_txid, max_txid)
        try:
            handle, generation, file_size = await self._run(
                "open", self._opener(path), level=level, min_txid=min_txid, max_txid=max_txid
            )
        except LTXNotFoundError as exc:
            raise LTXNotFoundError(
                f"LTX file not found: level {level}, {format_filename(min_txid, max_txid)}",
                op="open",
                level=level,
                min_txid=min_txid,
                max_txid=max_txid,
            ) from exc
        end = min(file_size, offset + size) if size > 0 else file_size
        return _SFTPStream(self, handle, generation, offset, end)

    # -- Go 0.3's generations/ layout (SupportsLegacyLayout) ------------------------

    async def legacy_files(self) -> list[LegacyFileInfo]:
        root = posixpath.normpath(posixpath.join(self.config.path, LEGACY_DIR))

        def walk(sftp: paramiko.SFTPClient) -> list[LegacyFileInfo]:
            found: list[LegacyFileInfo] = []
            pending = [root]
            while pending:
                directory = pending.pop()
                try:
                    entries = sftp.listdir_attr(directory)
                except FileNotFoundError:
                    continue
                for entry in entries:
                    path = posixpath.join(directory, entry.filename)
                    if entry.st_mode is not None and stat.S_ISDIR(entry.st_mode):
                        pending.append(path)
                    elif entry.st_mode is not None and stat.S_ISREG(entry.st_mode):
                        relative = LEGACY_DIR + path[len(root) :]
                        created = datetime.fromtimestamp(entry.st_mtime or 0, UTC)
                        found.append(LegacyFileInfo(relative, entry.st_size or 0, created))
            return found

        return await self._run("list", walk)

    async def open_legacy_file(self, path: str) -> AsyncByteStream:
        full = posixpath.join(self.config.path, legacy_key("", path))
        handle, generation, size = await self._run("open", self._opener(full))
        return _SFTPStream(self, handle, generation, 0, size)

    def _opener(
        self, path: str
    ) -> Callable[[paramiko.SFTPClient], tuple[paramiko.SFTPFile, int, int]]:
        """Opens ``path`` for reading: the handle, its session generation and size."""

        def open_file(sftp: paramiko.SFTPClient) -> tuple[paramiko.SFTPFile, int, int]:
            f = sftp.open(path, "rb")
            return f, self._generation, f.stat().st_size or 0

        return open_file

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        source, timestamp, size = await spool_ltx(data)
        path = self._file_path(level, min_txid, max_txid)
        tmp = posixpath.join(posixpath.dirname(path), temp_name(posixpath.basename(path)))
        seconds = timestamp // 1000
        cancelled = threading.Event()

        def upload(sftp: paramiko.SFTPClient) -> None:
            if cancelled.is_set():
                raise _WriteCancelled
            self._remove_orphans(sftp)
            try:
                self._upload(sftp, source, tmp, seconds)
                if cancelled.is_set():
                    raise _WriteCancelled
                self._rename_over(sftp, tmp, path)
            except BaseException:
                self._remove_quietly(sftp, tmp)
                raise

        try:
            await self._run("write", upload, level=level, min_txid=min_txid, max_txid=max_txid)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        finally:
            source.close()
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate``: a whole temporary file renamed with the plain SFTP
        rename, which OpenSSH's server does with link(2) and so refuses an existing
        target atomically (``posix-rename``, used for LTX files, would replace it)."""
        path = self._file_path(level, min_txid, max_txid)
        tmp = posixpath.join(posixpath.dirname(path), temp_name(posixpath.basename(path)))

        def create(sftp: paramiko.SFTPClient) -> bool:
            self._upload(sftp, io.BytesIO(data), tmp, upload_timestamp(data) // 1000)
            try:
                sftp.rename(tmp, path)
                return True
            except OSError:
                self._remove_quietly(sftp, tmp)
                sftp.stat(path)  # FileNotFoundError: the rename failed for another reason
                return False

        where = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
        try:
            created = await self._run("create", create, **where)
        except LTXNotFoundError as exc:
            raise ReplicaClientError(f"sftp: cannot create {path}", op="create", **where) from exc
        if not created:
            raise ObjectExistsError(f"sftp: {path} exists already", op="create", **where)

    def _upload(self, sftp: paramiko.SFTPClient, source: IO[bytes], tmp: str, mtime: int) -> None:
        try:
            f = sftp.open(tmp, "wb")
        except FileNotFoundError:
            self._makedirs(sftp, posixpath.dirname(tmp))
            f = sftp.open(tmp, "wb")
        with f:
            f.set_pipelined(self.config.concurrent_writes)
            while chunk := source.read(_COPY_CHUNK):
                f.write(chunk)
        sftp.utime(tmp, (mtime, mtime))

    @staticmethod
    def _makedirs(sftp: paramiko.SFTPClient, directory: str) -> None:
        parts = directory.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in ("", "."):
                continue
            try:
                sftp.mkdir(prefix)
            except OSError as exc:
                # Exists already (SFTP reports that as a generic failure) or truly failed:
                # stat tells which.
                try:
                    mode = sftp.stat(prefix).st_mode or 0
                except FileNotFoundError:
                    raise exc from None
                if not stat.S_ISDIR(mode):
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory", prefix) from None

    @staticmethod
    def _rename_over(sftp: paramiko.SFTPClient, tmp: str, path: str) -> None:
        """Rename, replacing an existing file (plain SFTP rename refuses to)."""
        try:
            sftp.posix_rename(tmp, path)
            return
        except OSError as exc:
            if isinstance(exc, FileNotFoundError | PermissionError):
                raise
            log.debug("sftp: posix-rename unavailable, using rename", extra={"error": str(exc)})
        try:
            sftp.rename(tmp, path)
        except OSError:
            sftp.remove(path)
            sftp.rename(tmp, path)

    def _remove_quietly(self, sftp: paramiko.SFTPClient, path: str) -> None:
        """Remove a failed upload's temporary file; if the link is down, remember it."""
        try:
            sftp.remove(path)
        except FileNotFoundError:
            return
        except (OSError, EOFError, paramiko.SSHException):
            log.debug("sftp: could not remove a file; will retry", extra={"path": path},
                      exc_info=True)  # fmt: skip
            self._orphans.add(path)

    def _remove_orphans(self, sftp: paramiko.SFTPClient) -> None:
        """Temporary files earlier failures could not remove, now that the link works."""
        for path in list(self._orphans):
            self._orphans.discard(path)
            self._remove_quietly(sftp, path)

    async def remove_stale_temp_files(self) -> int:
        """Temporary files a killed process or a lost connection left on the server."""

        def sweep(sftp: paramiko.SFTPClient) -> int:
            self._remove_orphans(sftp)
            root = posixpath.normpath(posixpath.join(self.config.path, "ltx"))
            try:
                levels = [e for e in sftp.listdir_attr(root) if stat.S_ISDIR(e.st_mode or 0)]
            except FileNotFoundError:
                return 0
            removed = 0
            for level in levels:
                directory = posixpath.join(root, level.filename)
                try:
                    entries = sftp.listdir_attr(directory)
                except FileNotFoundError:
                    continue
                # The server's mtimes against our clock: a server far behind could make a
                # live writer's file look old; its rename then fails and is retried.
                for entry in entries:
                    if not stat.S_ISREG(entry.st_mode or 0) or not is_temp_name(entry.filename):
                        continue
                    age = time.time() - (entry.st_mtime or 0)
                    if is_stale(entry.filename, age):
                        try:
                            sftp.remove(posixpath.join(directory, entry.filename))
                        except FileNotFoundError:
                            continue
                        removed += 1
                        log.info("sftp: removed an abandoned temporary file",
                                 extra={"path": f"{directory}/{entry.filename}"})  # fmt: skip
            return removed

        return await self._run("remove temporary files", sweep)

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        paths = [self._file_path(i.level, i.min_txid, i.max_txid) for i in files]

        def delete(sftp: paramiko.SFTPClient) -> None:
            for path in paths:
                try:
                    sftp.remove(path)
                except FileNotFoundError:
                    continue

        if paths:
            await self._run("delete", delete)

    async def delete_all(self) -> None:
        """Remove ``<path>/ltx`` and then ``<path>`` if that left it empty.

        Go walks and deletes everything under ``path``; this keeps to the files this
        replica owns, so a mistaken ``path`` (a home directory) loses nothing else.
        """
        root = self.config.path
        ltx_dir = posixpath.normpath(posixpath.join(root, "ltx"))

        def delete(sftp: paramiko.SFTPClient) -> None:
            self._remove_tree(sftp, ltx_dir)
            if posixpath.normpath(root or ".") not in (".", "/"):
                try:
                    sftp.rmdir(root)
                except OSError:
                    log.debug("sftp: kept a directory: not empty or already gone",
                              extra={"path": root})  # fmt: skip

        await self._run("delete_all", delete)

    def _remove_tree(self, sftp: paramiko.SFTPClient, directory: str) -> None:
        try:
            entries = sftp.listdir_attr(directory)
        except FileNotFoundError:
            return
        for entry in entries:
            child = posixpath.join(directory, entry.filename)
            if stat.S_ISDIR(entry.st_mode or 0):
                self._remove_tree(sftp, child)
                continue
            try:
                sftp.remove(child)
            except FileNotFoundError:
                continue
        try:
            sftp.rmdir(directory)
        except FileNotFoundError:
            return


class _SFTPStream(AsyncByteStream):
    """Reads one remote file through the client's lock, from ``pos`` up to ``end``."""

    def __init__(
        self,
        client: SFTPReplicaClient,
        handle: paramiko.SFTPFile,
        generation: int,
        pos: int,
        end: int,
    ) -> None:
        self._client = client
        self._handle = handle
        self._generation = generation
        self._pos = pos
        self._end = end
        self._closed = False

    async def read(self, n: int = -1) -> bytes:
        want = self._end - self._pos if n < 0 else min(n, self._end - self._pos)
        if self._closed or want <= 0:
            return b""
        handle, pos = self._handle, self._pos
        data: bytes = await self._client._submit(
            self._client._file_call, self._generation, "read", lambda: _read_at(handle, pos, want)
        )
        self._pos += len(data)
        if not data:
            self._end = self._pos  # the file is shorter than it was when opened
        return data

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._client._submit(
                self._client._file_call, self._generation, "close", self._handle.close
            )
        except (ReplicaClientError, OSError):
            log.debug("closing an sftp file failed", exc_info=True)


__all__ = ["SFTPReplicaClient"]
