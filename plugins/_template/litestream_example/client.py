"""ExampleReplicaClient: LTX files on an Example storage server.

This is the module to rewrite for your storage. It shows the parts every backend has:

- settings from the replica URL and the backend's own config keys (declared in
  ``plugin.py``, so the core has checked their types already), a bad combination
  being a one-line ``ConfigError``;
- a blocking client library (here ``urllib``; boto3 or paramiko in real backends)
  called through ``asyncio.to_thread``, with its errors translated into the core's
  classes in one place (``_call``): not found, permission, transient (retried), other;
- writes that are atomic: the data is gathered first (``spool_ltx``, which also checks
  the LTX header), then stored in one request the server applies all at once, carrying
  the header's timestamp, which listings give back;
- reads that stream, from an offset and for a size, without holding the file in memory.

The server this template talks to is ``tests/storage_server.py``: a stand-in for yours.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPResponse
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

from litestream_core.backend_support.errors import Failure, Where, one_line, status_class
from litestream_core.backend_support.listing import ltx_range
from litestream_core.backend_support.paths import go_join
from litestream_core.backend_support.spool import spool_ltx
from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.backend_support.timestamps import ms_to_datetime, upload_timestamp
from litestream_core.client import (
    AsyncByteStream,
    BytesStream,
    LTXData,
    LTXFileInfo,
    ReplicaClient,
    ReplicaURL,
)
from litestream_core.errors import (
    ConfigError,
    ObjectExistsError,
    ReplicaClientError,
    TransientReplicaError,
)
from litestream_core.ltx.header import format_filename

logger = logging.getLogger("litestream.example")  # never log the token
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ExampleSettings:
    server: str
    """``http://host:port``."""
    path: str
    token: str = ""
    timeout: float = 30.0

    def __repr__(self) -> str:  # the token is a secret: keep it out of logs and tracebacks
        return f"ExampleSettings(server={self.server!r}, path={self.path!r})"

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> ExampleSettings:
        if not url.host:
            raise ConfigError(f"example: the replica URL needs a host: {url.redacted()}")
        port = f":{url.port}" if url.port else ""
        token = str(options.get("example-token") or "")
        return cls(
            server=f"http://{url.host}{port}",
            path=str(options.get("path") or url.path),
            token=token,
            timeout=timeout_option(options, "example", 30.0),
        )

    def key(self, *parts: str) -> str:
        """The server path of ``parts`` under the replica: ``<path>/ltx/<level>/<name>``."""
        return "/" + go_join(self.path, *parts).lstrip("/")


class _Where(Where):
    scheme = "example"
    noun = "server"


class ExampleReplicaClient(ReplicaClient):
    """A replica on an Example storage server; see the module docstring."""

    type: ClassVar[str] = "example"

    def __init__(self, settings: ExampleSettings) -> None:
        self.settings = settings
        where = settings.server.removeprefix("http://")
        self._where = _Where(where, "a token" if settings.token else "no token")
        self._closed = False

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> ExampleReplicaClient:
        return cls(ExampleSettings.from_url(url, options))

    # -- Lifecycle ------------------------------------------------------------------------

    async def init(self) -> None:
        # Reach the server once, so bad addresses and tokens show up at start.
        if self._closed:
            raise ReplicaClientError("example: replica client is closed", op="init")
        await self._call("connect", self.settings.key("ltx") + "/", "GET", _ignore)

    async def close(self) -> None:
        self._closed = True  # urllib keeps no connections open between requests

    # -- Requests -------------------------------------------------------------------------

    def _request(
        self, path: str, method: str, headers: Mapping[str, str] | None = None, body: Any = None
    ) -> urllib.request.Request:
        all_headers = dict(headers or {})
        if self.settings.token:
            all_headers["Authorization"] = f"Bearer {self.settings.token}"
        url = self.settings.server + quote(path)
        return urllib.request.Request(url, data=body, method=method, headers=all_headers)

    @staticmethod
    def _translate(exc: OSError, failure: Failure) -> ReplicaClientError:
        """The core error for a failed request; every request's errors go through here.

        404 is not found, 401/403 a permission error; timeouts, refused connections,
        429 and 5xx are transient (the engine retries those); the rest is a plain
        ReplicaClientError.
        """
        if isinstance(exc, urllib.error.HTTPError):
            if exc.code == 404:
                return failure.not_found()
            if exc.code in (401, 403):
                return failure.denied(f"HTTP {exc.code}")
            return failure.failed(status_class(exc.code), f"HTTP {exc.code} {exc.reason}")
        return failure.failed(TransientReplicaError, one_line(exc))

    async def _call(
        self,
        op: str,
        path: str,
        method: str,
        read: Callable[[HTTPResponse], _T],
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> _T | None:
        """One request in a worker thread, ``read`` consuming its response there."""
        request = self._request(path, method, headers, body)

        def call() -> _T:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                return read(response)

        try:
            return await asyncio.to_thread(call)
        except OSError as exc:  # HTTPError, URLError, timeouts, dropped connections
            if missing_ok and isinstance(exc, urllib.error.HTTPError) and exc.code == 404:
                return None
            raise self._translate(exc, self._where.failure(op, path.lstrip("/"))) from exc

    # -- Listing --------------------------------------------------------------------------

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        # This server's listing carries the header time, so `use_metadata` costs nothing.
        entries = await self._call("list", self.settings.key("ltx", str(level)) + "/", "GET", _json)
        infos = []
        for entry in entries or []:
            if (txids := ltx_range(entry["name"], seek)) is not None:
                created_at = ms_to_datetime(entry["created_ms"])
                infos.append(LTXFileInfo(level, *txids, entry["size"], created_at))
        for info in sorted(infos, key=lambda i: (i.min_txid, i.max_txid)):
            yield info

    # -- Reading --------------------------------------------------------------------------

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        headers = {}
        if offset or size:
            headers["Range"] = f"bytes={offset}-{offset + size - 1 if size > 0 else ''}"
        path = self._file(level, min_txid, max_txid)
        request = self._request(path, "GET", headers)
        failure = self._where.failure(
            "get", path.lstrip("/"), level=level, min_txid=min_txid, max_txid=max_txid
        )
        try:
            # Left open for the stream to read from.
            response = await asyncio.to_thread(
                urllib.request.urlopen, request, timeout=self.settings.timeout
            )
        except OSError as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 416:
                return BytesStream(b"")  # the offset is at or past the end of the file
            raise self._translate(exc, failure) from exc
        return _ResponseStream(response, failure)

    # -- Writing --------------------------------------------------------------------------

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        # Gather the whole file first (memory, then a temporary file), checking its LTX
        # header: a source that fails or is cancelled midway never reaches the server.
        spool, timestamp, size = await spool_ltx(data)
        try:
            await self._call(
                "put",
                self._file(level, min_txid, max_txid),
                "PUT",
                _ignore,
                headers={"Content-Length": str(size), "X-Created-Ms": str(timestamp)},
                body=spool,
            )
        finally:
            spool.close()
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate`` (the replica lease's one primitive): a PUT with
        ``If-None-Match: *``, which this server refuses with 412 if the name exists."""
        headers = {
            "Content-Length": str(len(data)),
            "X-Created-Ms": str(upload_timestamp(data)),
            "If-None-Match": "*",
        }
        path = self._file(level, min_txid, max_txid)
        try:
            await self._call("create", path, "PUT", _ignore, headers=headers, body=data)
        except ReplicaClientError as exc:
            cause = exc.__cause__
            if isinstance(cause, urllib.error.HTTPError) and cause.code == 412:
                raise ObjectExistsError(f"{path} exists already", op="create") from None
            raise

    # -- Deleting -------------------------------------------------------------------------

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        for info in files:
            path = self._file(info.level, info.min_txid, info.max_txid)
            await self._call("delete", path, "DELETE", _ignore, missing_ok=True)

    async def delete_all(self) -> None:
        await self._call(
            "delete", self.settings.key("ltx") + "/", "DELETE", _ignore, missing_ok=True
        )

    def _file(self, level: int, min_txid: int, max_txid: int) -> str:
        return self.settings.key("ltx", str(level), format_filename(min_txid, max_txid))


class _ResponseStream(AsyncByteStream):
    """An HTTP response body, read in a worker thread."""

    def __init__(self, response: HTTPResponse, failure: Failure) -> None:
        self._response = response
        self._failure = failure
        self._closed = False

    async def read(self, n: int = -1) -> bytes:
        if self._closed:
            return b""
        try:
            return await asyncio.to_thread(self._response.read, None if n < 0 else n)
        except OSError as exc:
            raise self._failure.failed(TransientReplicaError, one_line(exc)) from exc

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._response.close)


def _json(response: HTTPResponse) -> Any:
    return json.loads(response.read())


def _ignore(response: HTTPResponse) -> None:
    return None
