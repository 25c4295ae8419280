"""WebDAVReplicaClient: LTX files on a WebDAV server, laid out as Go's webdav client does.

Files are ``<path>/ltx/<level>/<min:016x>-<max:016x>.ltx`` under the server URL. httpx
is asyncio-native, so no worker threads are needed.

Where this differs from Go's client, and why:

- Uploads go to a temporary name in the same directory and are then renamed with
  MOVE. A PUT writes the target file as the bytes arrive on most servers (WsgiDAV,
  Apache's mod_dav with a plain file system), so a plain PUT would let a reader, or a
  crash, see half a file. The temporary name is not an LTX file name, so both tools'
  listings skip it.
- Like Go, an upload is gathered first (memory, then a temporary file) and sent with a
  Content-Length: many WebDAV servers mishandle chunked request bodies.
- WebDAV has no settable per-file metadata every server keeps, and Go stores no
  timestamp: plain listings give the server's modification time, and listings with
  ``use_metadata`` read each file's LTX header (a 100-byte ranged GET) for its exact
  timestamp, so a point-in-time restore works on replicas written by either tool.
- ``delete_all`` removes the ``ltx/`` tree only, not everything under the path.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from posixpath import dirname
from typing import IO, Any, ClassVar
from urllib.parse import unquote, urlsplit

import httpx

from litestream_core.backend_support.errors import Where, one_line, status_class
from litestream_core.backend_support.listing import ltx_range
from litestream_core.backend_support.spool import spool_ltx
from litestream_core.backend_support.tempfiles import is_stale, is_temp_name, temp_name
from litestream_core.backend_support.timestamps import ms_to_datetime, stored_timestamp
from litestream_core.client import (
    AsyncByteStream,
    BytesStream,
    LTXData,
    LTXFileInfo,
    ReplicaClient,
    ReplicaURL,
)
from litestream_core.errors import (
    LTXNotFoundError,
    ReplicaClientError,
    TransientReplicaError,
)
from litestream_core.ltx.header import HEADER_SIZE
from litestream_webdav.settings import WebDAVSettings, settings_from

logger = logging.getLogger("litestream.webdav")

UPLOAD_CHUNK = 1 << 20
"""Bytes per read of a spooled upload."""
HEADER_READ_CONCURRENCY = 16
"""Header reads in flight when a listing needs exact timestamps."""
_DAV = "{DAV:}"
_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/><d:getlastmodified/>"
    b"</d:prop></d:propfind>"
)


class _Where(Where):
    scheme = "webdav"
    noun = "server"


class WebDAVReplicaClient(ReplicaClient):
    """A replica in a directory of a WebDAV server; see the module docstring."""

    type: ClassVar[str] = "webdav"

    def __init__(self, settings: WebDAVSettings) -> None:
        self.settings = settings
        using = f"user {settings.username!r}" if settings.username else "no credentials"
        self._where = _Where(settings.host, using)
        self._http: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._dirs: set[str] = set()
        """Directories known to exist, so each upload does not send MKCOL again."""
        self._cleanups: set[asyncio.Task[None]] = set()
        self._renames: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        """One lock per target file: a WebDAV server may fail two MOVEs onto one name
        at once (WsgiDAV answers 500), so this client sends them one at a time."""

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> WebDAVReplicaClient:
        return cls(settings_from(url, options))

    def __repr__(self) -> str:
        return f"WebDAVReplicaClient({self.settings.server}{self.settings.remote_path()})"

    # -- Lifecycle ------------------------------------------------------------------------

    async def init(self) -> None:
        await self._client()

    async def close(self) -> None:
        self._closed = True
        if self._cleanups:
            await asyncio.wait(self._cleanups, timeout=self.settings.timeout)
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def _client(self) -> httpx.AsyncClient:
        """The HTTP client, connected on first use (Go's methods call init the same way)."""
        if self._closed:
            raise ReplicaClientError("webdav: replica client is closed", op="init")
        if self._http is not None:
            return self._http
        async with self._lock:
            if self._http is None:
                self._http = await self._connect()
        return self._http

    async def _connect(self) -> httpx.AsyncClient:
        """A client that has reached the server, with the authentication it asks for."""
        s = self.settings
        auth: httpx.Auth | None = None
        if s.username or s.password:
            auth = httpx.BasicAuth(s.username, s.password)
        http = httpx.AsyncClient(
            auth=auth,
            timeout=s.timeout,
            # The system's trust store (and SSL_CERT_FILE / SSL_CERT_DIR), as Go uses,
            # rather than httpx's bundled one.
            verify=ssl.create_default_context(),
            # Ranged reads must come back as stored bytes, never re-encoded.
            headers={"Accept-Encoding": "identity", "User-Agent": "litestream"},
        )
        try:
            root = s.remote_path()
            response = await self._send(http, "PROPFIND", root, "connect to", depth="0")
            if response.status_code == 401 and auth is not None:
                challenge = response.headers.get("www-authenticate", "")
                if challenge.lower().startswith("digest"):
                    http.auth = httpx.DigestAuth(s.username, s.password)
                    response = await self._send(http, "PROPFIND", root, "connect to", depth="0")
            if response.status_code not in (207, 404):
                raise self._error(response, "connect to", root)
        except BaseException:
            await http.aclose()
            raise
        return http

    # -- HTTP -----------------------------------------------------------------------------

    async def _send(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        op: str,
        *,
        depth: str | None = None,
        headers: Mapping[str, str] | None = None,
        content: Any = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One request; transport failures become core errors, statuses are the caller's."""
        all_headers = dict(headers or {})
        if depth is not None:
            all_headers["Depth"] = depth
        if method == "PROPFIND":
            all_headers["Content-Type"] = "application/xml; charset=utf-8"
            content = _PROPFIND
        request = http.build_request(
            method, self.settings.url(path), headers=all_headers, content=content
        )
        try:
            return await http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, op, path) from exc

    def _relative(self, path: str) -> str:
        return path.removeprefix("/")

    def _transport_error(self, exc: httpx.HTTPError, op: str, path: str) -> ReplicaClientError:
        failure = self._where.failure(op, self._relative(path))
        if _caused_by_certificate(exc):  # retrying cannot fix a certificate
            return failure.error(
                ReplicaClientError,
                f"webdav: {op} {failure.target}: TLS certificate not trusted: {one_line(exc)}",
                "install the server's CA in the system trust store, or name it in SSL_CERT_FILE",
            )
        if isinstance(exc, httpx.TransportError):  # timeouts, refused and dropped connections
            return failure.failed(TransientReplicaError, one_line(exc))
        return failure.unexpected(exc, one_line(exc))

    def _error(
        self,
        response: httpx.Response,
        op: str,
        path: str,
        *,
        level: int | None = None,
        min_txid: int | None = None,
        max_txid: int | None = None,
    ) -> ReplicaClientError:
        """The core error for a failed status."""
        status = response.status_code
        failure = self._where.failure(
            op, self._relative(path), level=level, min_txid=min_txid, max_txid=max_txid
        )
        if status in (401, 403):
            return failure.denied(f"HTTP {status}")
        if status == 404:
            return failure.not_found()
        return failure.failed(status_class(status), f"HTTP {status} {response.reason_phrase}")

    async def _expect(
        self, method: str, path: str, op: str, ok: tuple[int, ...], **kwargs: Any
    ) -> httpx.Response:
        http = await self._client()
        response = await self._send(http, method, path, op, **kwargs)
        if response.status_code not in ok:
            raise self._error(response, op, path)
        return response

    # -- Listing --------------------------------------------------------------------------

    async def _children(self, directory: str, op: str) -> list[_Entry]:
        """What a directory holds (nothing when it does not exist), by one PROPFIND."""
        response = await self._expect("PROPFIND", directory, op, (207, 404), depth="1")
        if response.status_code == 404:
            return []
        try:
            return _entries(response.content, directory)
        except ET.ParseError as exc:
            failure = self._where.failure(op, self._relative(directory))
            raise failure.failed(ReplicaClientError, f"unreadable PROPFIND answer: {exc}") from exc

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        found = []
        for entry in await self._children(self.settings.level_dir(level), "list"):
            if not entry.is_dir and (txids := ltx_range(entry.name, seek)) is not None:
                found.append(LTXFileInfo(level, *txids, entry.size, entry.modified))
        found.sort(key=lambda info: (info.min_txid, info.max_txid))
        if use_metadata:
            found = await self._with_header_times(found)
        for info in found:
            yield info

    async def _with_header_times(self, infos: list[LTXFileInfo]) -> list[LTXFileInfo]:
        """The infos with each file's LTX header timestamp, read in parallel."""
        limit = asyncio.Semaphore(HEADER_READ_CONCURRENCY)

        async def one(info: LTXFileInfo) -> LTXFileInfo:
            async with limit:
                try:
                    stream = await self.open_ltx_file(
                        info.level, info.min_txid, info.max_txid, size=HEADER_SIZE
                    )
                except LTXNotFoundError:
                    return info  # deleted since the listing: keep its storage time
                async with stream:
                    head = await stream.readall()
            timestamp = stored_timestamp(head)
            if timestamp is None:  # not an LTX file after all: its storage time will do
                logger.warning("file has no valid LTX header; using its storage time",
                               extra={"path": info.name})  # fmt: skip
                return info
            return LTXFileInfo(
                info.level, info.min_txid, info.max_txid, info.size, ms_to_datetime(timestamp)
            )

        return list(await asyncio.gather(*(one(info) for info in infos)))

    # -- Reading --------------------------------------------------------------------------

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        http = await self._client()
        path = self.settings.file_path(level, min_txid, max_txid)
        headers = {}
        if offset or size:
            end = str(offset + size - 1) if size > 0 else ""
            headers["Range"] = f"bytes={offset}-{end}"
        response = await self._send(http, "GET", path, "get", headers=headers, stream=True)
        status = response.status_code
        if status == 416:  # the offset is at or past the end of the file
            await response.aclose()
            return BytesStream(b"")
        if status not in (200, 206):
            await response.aclose()
            raise self._error(
                response, "get", path, level=level, min_txid=min_txid, max_txid=max_txid
            )
        # A server that ignores Range sends the whole file: skip and cut it here.
        skip = offset if status == 200 else 0
        return _ResponseStream(self, response, path, skip=skip, limit=size)

    # -- Writing --------------------------------------------------------------------------

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        target = self.settings.file_path(level, min_txid, max_txid)
        spool, timestamp, size = await spool_ltx(data)
        directory = dirname(target)
        temp = f"{directory}/{temp_name(target.rsplit('/', 1)[1])}"
        try:
            await self._put(temp, spool, size)
            lock = self._renames.setdefault(target, asyncio.Lock())
            async with lock:
                await self._expect(
                    "MOVE",
                    temp,
                    "rename",
                    (201, 204),
                    headers={"Destination": self.settings.url(target), "Overwrite": "T"},
                )
        except BaseException:
            # Also on cancellation: the temporary file must not outlive the write. Not
            # awaited here, as a cancellation under way would cancel it too.
            self._discard_later(temp)
            raise
        finally:
            spool.close()
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    async def _put(self, path: str, spool: IO[bytes], size: int) -> None:
        """PUT the spooled file with a Content-Length, creating its directory if needed."""
        directory = dirname(path)
        for attempt in range(2):
            if directory not in self._dirs:
                await self._mkdirs(directory)
            spool.seek(0)
            http = await self._client()
            response = await self._send(
                http,
                "PUT",
                path,
                "put",
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                content=_read_chunks(spool),
            )
            if response.status_code in (200, 201, 204):
                return
            if response.status_code == 409 and attempt == 0:
                self._dirs.discard(directory)  # removed behind our back: create it again
                continue
            raise self._error(response, "put", path)

    async def _mkdirs(self, directory: str) -> None:
        """MKCOL the directory and any missing parents (Go's MkdirAll)."""
        missing = []
        current = directory
        while current not in ("", "/") and current not in self._dirs:
            response = await self._expect(
                "MKCOL", current, "create directory", (201, 405, 409, 301)
            )
            if response.status_code == 409:  # the parent is missing too
                missing.append(current)
                current = dirname(current)
                continue
            self._dirs.add(current)
            break
        for path in reversed(missing):
            await self._expect("MKCOL", path, "create directory", (201, 405, 301))
            self._dirs.add(path)

    async def remove_stale_temp_files(self) -> int:
        """Temporary files a killed process or a lost connection left on the server.

        Ages come from the server's modification times against our clock; a server far
        behind could make a live upload's file look old, whose MOVE then fails and is
        retried.
        """
        removed = 0
        ltx_dir = self.settings.remote_path("ltx")
        for level in await self._children(ltx_dir, "list"):
            if not level.is_dir:
                continue
            directory = f"{ltx_dir}/{level.name}"
            for entry in await self._children(directory, "list"):
                age = (datetime.now(UTC) - entry.modified).total_seconds()
                if entry.is_dir or not is_temp_name(entry.name) or not is_stale(entry.name, age):
                    continue
                await self._expect("DELETE", f"{directory}/{entry.name}", "delete", (200, 204, 404))
                removed += 1
                logger.info("removed an abandoned temporary file",
                            extra={"path": f"{directory}/{entry.name}"})  # fmt: skip
        return removed

    def _discard_later(self, path: str) -> None:
        async def discard() -> None:
            try:
                http = await self._client()
                await self._send(http, "DELETE", path, "delete")
            except Exception as exc:
                logger.warning("could not remove a temporary file",
                               extra={"path": path, "error": str(exc)})  # fmt: skip

        task = asyncio.get_running_loop().create_task(discard())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    # -- Deleting -------------------------------------------------------------------------

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        limit = asyncio.Semaphore(HEADER_READ_CONCURRENCY)

        async def one(info: LTXFileInfo) -> None:
            path = self.settings.file_path(info.level, info.min_txid, info.max_txid)
            async with limit:
                await self._expect("DELETE", path, "delete", (200, 204, 404))

        await asyncio.gather(*(one(info) for info in files))

    async def delete_all(self) -> None:
        ltx_dir = self.settings.remote_path("ltx")
        await self._expect("DELETE", ltx_dir, "delete", (200, 204, 404))
        self._dirs = {d for d in self._dirs if not d.startswith(ltx_dir)}


class _ResponseStream(AsyncByteStream):
    """A streamed GET response, read in caller-sized pieces."""

    def __init__(
        self,
        owner: WebDAVReplicaClient,
        response: httpx.Response,
        path: str,
        *,
        skip: int,
        limit: int,
    ) -> None:
        self._owner = owner
        self._response = response
        self._path = path
        self._body = response.aiter_raw()
        self._buffer = bytearray()
        self._skip = skip
        self._left = limit if limit > 0 else -1
        self._done = False

    async def read(self, n: int = -1) -> bytes:
        if self._left == 0:
            return b""
        if n < 0 or (self._left > 0 and n > self._left):
            n = self._left
        while not self._done and (n < 0 or len(self._buffer) < n):
            try:
                chunk = await anext(self._body)
            except StopAsyncIteration:
                self._done = True
                break
            except httpx.HTTPError as exc:
                raise self._owner._transport_error(exc, "read", self._path) from exc
            if self._skip:
                dropped = min(self._skip, len(chunk))
                chunk, self._skip = chunk[dropped:], self._skip - dropped
            self._buffer += chunk
        end = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        piece = bytes(self._buffer[:end])
        del self._buffer[:end]
        if self._left > 0:
            self._left -= len(piece)
        return piece

    async def aclose(self) -> None:
        self._done = True
        await self._response.aclose()


async def _read_chunks(spool: IO[bytes]) -> AsyncIterator[bytes]:
    """The spool's bytes from where it stands; file reads run in a worker thread."""
    while chunk := await asyncio.to_thread(spool.read, UPLOAD_CHUNK):
        yield chunk


def _caused_by_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True, slots=True)
class _Entry:
    """One member of a WebDAV collection."""

    name: str
    is_dir: bool
    size: int
    modified: datetime


def _entries(body: bytes, directory: str) -> list[_Entry]:
    """The members of ``directory``, from its PROPFIND (depth 1) multistatus body."""
    entries = []
    for response in ET.fromstring(body).iter(f"{_DAV}response"):
        href = response.findtext(f"{_DAV}href") or ""
        path = unquote(urlsplit(href).path).rstrip("/")
        if path == directory.rstrip("/"):
            continue  # the collection itself
        for propstat in response.iter(f"{_DAV}propstat"):
            if " 200 " not in f" {propstat.findtext(f'{_DAV}status') or ''} ":
                continue
            prop = propstat.find(f"{_DAV}prop")
            if prop is None:
                continue
            kind = prop.find(f"{_DAV}resourcetype")
            is_dir = kind is not None and kind.find(f"{_DAV}collection") is not None
            name = path.rsplit("/", 1)[-1]
            size = int(prop.findtext(f"{_DAV}getcontentlength") or 0)
            modified_text = prop.findtext(f"{_DAV}getlastmodified")
            modified = (
                parsedate_to_datetime(modified_text).astimezone(UTC)
                if modified_text
                else datetime.now(UTC)
            )
            entries.append(_Entry(name, is_dir, size, modified))
            break
    return entries
