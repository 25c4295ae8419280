"""FileReplicaClient: LTX files in a local directory, laid out exactly as Go's file backend.

``<root>/ltx/<level>/<min:016x>-<max:016x>.ltx`` with the level in decimal, so the Go
binary and this client read each other's replicas. Every write goes to a uniquely named
temporary file beside its target, is fsynced, gets the LTX header's timestamp as its
mtime, and is renamed into place; the directory is fsynced too. A reader therefore sees
a whole file or none, even across a crash, and two concurrent writers of one name
never share a temporary file. Blocking calls run in worker threads.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import time
from asyncio import to_thread
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

from litestream_core.backend_support.legacy import LEGACY_DIR, legacy_key
from litestream_core.backend_support.listing import ltx_range
from litestream_core.backend_support.sdk import finish_in_thread
from litestream_core.backend_support.tempfiles import is_stale, temp_name
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
    ConfigError,
    LTXNotFoundError,
    ObjectExistsError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.ltx.header import HEADER_SIZE, format_filename

logger = logging.getLogger("litestream.file")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_T = TypeVar("_T")
# Errors a retry may fix: a busy or briefly unavailable (network) filesystem.
_TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.EIO})


class FileReplicaClient(ReplicaClient):
    """A replica in a directory; see the module docstring for the layout and guarantees."""

    type: ClassVar[str] = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> FileReplicaClient:
        """From ``file:///abs/path``, a plain path, or config options with ``path``.

        As in Go, ``file://dir/sub`` means ``/dir/sub``: the host is part of the path.
        """
        path = options.get("path")
        if not path:
            path = posixpath.normpath(f"/{url.host}{url.path}") if url.host else url.path
        if not path:
            raise ConfigError(
                f"file replica path required: {url.redacted()!r}",
                hint="use file:///absolute/path or set `path:`",
            )
        return cls(os.path.expanduser(str(path)))

    # -- layout ------------------------------------------------------------------------

    def level_dir(self, level: int) -> Path:
        return self.path / "ltx" / str(level)

    def file_path(self, level: int, min_txid: int, max_txid: int) -> Path:
        return self.level_dir(level) / format_filename(min_txid, max_txid)

    # -- lifecycle: nothing to open; a missing directory is created on first write ------

    async def init(self) -> None:
        if await to_thread(self.path.is_file):
            raise ConfigError(f"file replica path {self.path} is a file, not a directory")

    async def close(self) -> None:
        return None

    # -- operations --------------------------------------------------------------------

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        infos = await self._run("list", self._list, level, seek, use_metadata, level=level)
        for info in infos:
            yield info

    async def ltx_levels(self) -> list[int]:
        return await self._run("list", self._levels)

    def _levels(self) -> list[int]:
        return sorted(
            int(e.name)
            for e in _scan(self.path / "ltx")
            if e.name.isascii() and e.name.isdecimal() and e.is_dir()
        )

    def _list(self, level: int, seek: int, use_metadata: bool) -> list[LTXFileInfo]:
        try:
            entries = list(os.scandir(self.level_dir(level)))
        except FileNotFoundError:
            return []
        infos = []
        for entry in entries:
            if (txids := ltx_range(entry.name, seek)) is None:
                continue  # temporary files, anything else that is not ours, or before seek
            min_txid, max_txid = txids
            try:
                st = entry.stat()
                created_at = _from_ns(st.st_mtime_ns)
                if use_metadata:
                    created_at = _header_time(entry.path) or created_at
            except FileNotFoundError:
                continue  # deleted while we listed
            infos.append(LTXFileInfo(level, min_txid, max_txid, st.st_size, created_at))
        infos.sort(key=lambda i: (i.min_txid, i.max_txid))
        return infos

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        path = self.file_path(level, min_txid, max_txid)

        def open_at() -> IO[bytes]:
            f = open(path, "rb")  # noqa: SIM115 - handed to the stream, which closes it
            try:
                f.seek(offset)
            except BaseException:
                f.close()
                raise
            return f

        f = await self._run("open", open_at, level=level, min_txid=min_txid, max_txid=max_txid)
        return _FileStream(f, size if size > 0 else None)

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        where = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
        head, rest = await _split_header(data)
        timestamp = upload_timestamp(head)  # before any file exists: non-LTX data is refused
        target = self.file_path(level, min_txid, max_txid)
        tmp_path = target.parent / temp_name(target.name)
        if isinstance(rest, bytes):
            # A small file (the L0 file of every sync) in one thread hand-off.
            size = await self._run(
                "write", _write_whole, tmp_path, target, head + rest, timestamp, **where
            )
            return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))
        tmp: IO[bytes] | None = None
        try:
            tmp = await self._run("write", _create_temp, tmp_path, **where)
            await self._run("write", tmp.write, head, **where)
            async for chunk in rest:
                await self._run("write", tmp.write, chunk, **where)
            size = await self._run("write", _commit, tmp, tmp_path, target, timestamp, **where)
        except BaseException:
            # Every failure, a cancellation included: the thread has finished (``_run``
            # waits for it), so nothing can recreate the file after it is gone.
            _discard(tmp, tmp_path)
            raise
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    def write_ltx_file_now(
        self, level: int, min_txid: int, max_txid: int, data: bytes
    ) -> LTXFileInfo:
        """``DirectWriter``: ``write_ltx_file`` of a whole small file, blocking, from the
        worker thread that just wrote it locally (the low-latency path: no hand-off to
        the event loop and back between the local file and its upload)."""
        timestamp = upload_timestamp(data[:HEADER_SIZE])
        target = self.file_path(level, min_txid, max_txid)
        try:
            size = _write_whole(target.parent / temp_name(target.name), target, data, timestamp)
        except OSError as exc:
            raise self._translate(exc, "write", level, min_txid, max_txid) from exc
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate``: a whole temporary file hard-linked to the name,
        which the filesystem refuses atomically if the name exists (NFS too)."""
        target = self.file_path(level, min_txid, max_txid)
        tmp_path = target.parent / temp_name(target.name)

        def create() -> None:
            tmp = _create_temp(tmp_path)
            try:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
                tmp.close()
                os.link(tmp_path, target)
            finally:
                _discard(tmp, tmp_path)
            _fsync_dir(target.parent)

        try:
            await self._run("create", create, level=level, min_txid=min_txid, max_txid=max_txid)
        except ReplicaClientError as exc:
            if isinstance(exc.__cause__, FileExistsError):
                raise ObjectExistsError(
                    f"{target} exists already", op="create", url=str(self.path), level=level,
                    min_txid=min_txid, max_txid=max_txid,
                ) from None  # fmt: skip
            raise

    async def remove_stale_temp_files(self) -> int:
        """Temporary files a killed or failed writer left in the level directories."""

        def sweep() -> int:
            removed = 0
            now = time.time()
            for level_dir in _level_dirs(self.path / "ltx"):
                for entry in _scan(level_dir):
                    try:
                        age = now - entry.stat(follow_symlinks=False).st_mtime
                        if entry.is_file(follow_symlinks=False) and is_stale(entry.name, age):
                            os.unlink(entry.path)
                            removed += 1
                            logger.info("removed an abandoned temporary file",
                                        extra={"path": entry.path})  # fmt: skip
                    except FileNotFoundError:
                        continue
            return removed

        return await self._run("remove temporary files", sweep)

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        def delete() -> None:
            dirs = set()
            for info in files:
                path = self.file_path(info.level, info.min_txid, info.max_txid)
                logger.debug("deleting LTX file", extra={"path": str(path)})
                with suppress(FileNotFoundError):
                    path.unlink()
                    dirs.add(path.parent)
            for d in dirs:
                _fsync_dir(d)

        await self._run("delete", delete)

    async def delete_all(self) -> None:
        """Remove the ``ltx`` tree, and the root only if that leaves it empty.

        Go removes the whole root; we never delete files we did not write, in case
        the path was shared with something else.
        """

        def delete() -> None:
            with suppress(FileNotFoundError):
                import shutil  # here: its archive modules are for this alone

                shutil.rmtree(self.path / "ltx")
            try:
                self.path.rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                    raise

        await self._run("delete_all", delete)

    # -- Go 0.3's generations/ layout (SupportsLegacyLayout) ------------------------------

    async def legacy_files(self) -> list[LegacyFileInfo]:
        def walk() -> list[LegacyFileInfo]:
            found = []
            for directory, _, names in os.walk(self.path / LEGACY_DIR):
                for name in names:
                    path = Path(directory) / name
                    with suppress(FileNotFoundError):
                        st = path.stat()
                        relative = path.relative_to(self.path).as_posix()
                        found.append(LegacyFileInfo(relative, st.st_size, _from_ns(st.st_mtime_ns)))
            return found

        return await self._run("list", walk)

    async def open_legacy_file(self, path: str) -> AsyncByteStream:
        full = self.path / legacy_key("", path)

        def open_file() -> IO[bytes]:
            return open(full, "rb")

        return _FileStream(await self._run("open", open_file), None)

    # -- error translation ------------------------------------------------------------

    async def _run(
        self,
        op: str,
        fn: Callable[..., _T],
        *args: Any,
        level: int | None = None,
        min_txid: int | None = None,
        max_txid: int | None = None,
    ) -> _T:
        """Run blocking ``fn`` in a thread; OSErrors become the core's error classes.

        A cancelled caller still waits for the thread to finish, so clean-up never
        races a write or a rename that is still running.
        """
        try:
            return await finish_in_thread(fn, *args)
        except OSError as exc:
            raise self._translate(exc, op, level, min_txid, max_txid) from exc

    def _translate(
        self,
        exc: OSError,
        op: str,
        level: int | None = None,
        min_txid: int | None = None,
        max_txid: int | None = None,
    ) -> ReplicaClientError:
        """The core's error class for an OSError of operation ``op``."""
        where = f"{op} {self.path}"
        if level is not None and min_txid is not None and max_txid is not None:
            where = f"{op} {self.file_path(level, min_txid, max_txid)}"
        kw: dict[str, Any] = {
            "op": op,
            "url": str(self.path),
            "level": level,
            "min_txid": min_txid,
            "max_txid": max_txid,
        }
        message = f"{where}: {exc.strerror or exc}"
        if isinstance(exc, FileNotFoundError) and op == "open":
            return LTXNotFoundError(f"LTX file not found: {where}", **kw)
        if isinstance(exc, PermissionError):
            return ReplicaPermissionError(
                message, hint="check the replica directory's owner and mode", **kw
            )
        if exc.errno == errno.ENOSPC:
            return ReplicaClientError(message, hint="the replica's disk is full", **kw)
        if exc.errno in _TRANSIENT_ERRNOS:
            return TransientReplicaError(message, **kw)
        return ReplicaClientError(message, **kw)


class _FileStream(AsyncByteStream):
    """Reads an open file in worker threads, stopping after ``limit`` bytes if given."""

    def __init__(self, f: IO[bytes], limit: int | None) -> None:
        self._f = f
        self._left = limit

    async def read(self, n: int = -1) -> bytes:
        if self._f.closed:
            return b""
        if self._left is not None:
            n = self._left if n < 0 else min(n, self._left)
        chunk = await to_thread(self._f.read, n)
        if self._left is not None:
            self._left -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        self._f.close()


async def _split_header(data: LTXData) -> tuple[bytes, bytes | AsyncIterable[bytes]]:
    """The first HEADER_SIZE bytes (fewer only if the data is shorter) and the rest."""
    if isinstance(data, bytes | bytearray | memoryview):
        whole = bytes(data)
        return whole[:HEADER_SIZE], whole[HEADER_SIZE:]
    it = aiter(data)
    head = b""
    while len(head) < HEADER_SIZE:
        try:
            head += await anext(it)
        except StopAsyncIteration:
            return head, b""

    async def rest() -> AsyncIterator[bytes]:
        async for chunk in it:
            yield chunk

    return head, rest()


def _create_temp(path: Path) -> IO[bytes]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "wb")


def _commit(tmp: IO[bytes], tmp_path: Path, target: Path, timestamp_ms: int) -> int:
    tmp.flush()
    ns = timestamp_ms * 1_000_000
    os.utime(tmp.fileno(), ns=(ns, ns))  # before the rename: listed with its time
    os.fsync(tmp.fileno())
    size = os.fstat(tmp.fileno()).st_size
    tmp.close()
    os.replace(tmp_path, target)
    _fsync_dir(target.parent)
    return size


def _write_whole(tmp_path: Path, target: Path, data: bytes, timestamp_ms: int) -> int:
    """Create, fill and commit a file in one go; nothing is left behind on failure."""
    tmp: IO[bytes] | None = None
    try:
        tmp = _create_temp(tmp_path)
        tmp.write(data)
        return _commit(tmp, tmp_path, target, timestamp_ms)
    except BaseException:
        _discard(tmp, tmp_path)
        raise


def _discard(tmp: IO[bytes] | None, path: Path) -> None:
    """Close and delete a temporary file after a failed write, whatever fails on the way.

    Closing flushes what is buffered, which fails again on a full disk; the file is
    closed all the same, and the delete must still happen.
    """
    if tmp is not None:
        with suppress(OSError):
            tmp.close()
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:  # the next start's sweep removes it
        logger.warning("could not remove a temporary file",
                       extra={"path": str(path), "error": exc.strerror or str(exc)})  # fmt: skip


def _level_dirs(root: Path) -> list[Path]:
    return [Path(e.path) for e in _scan(root) if e.is_dir(follow_symlinks=False)]


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _header_time(path: str) -> datetime | None:
    """The LTX header's timestamp, for files whose mtime was not kept (copied by hand)."""
    with open(path, "rb") as f:
        timestamp = stored_timestamp(f.read(HEADER_SIZE))
    if timestamp is None:
        logger.warning("file has no valid LTX header; using its modification time",
                       extra={"path": str(path)})  # fmt: skip
        return None
    return ms_to_datetime(timestamp)


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
