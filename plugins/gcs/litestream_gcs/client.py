"""GCSReplicaClient: LTX files in a Google Cloud Storage bucket, laid out as Go's.

Keys are ``<path>/ltx/<level>/<min:016x>-<max:016x>.ltx`` and each object carries the
LTX header's time in the ``litestream-timestamp`` custom metadata (Go's RFC 3339 text).
GCS returns custom metadata in listings, so listings always report header times.

Credentials are Google's application default credentials; with
``STORAGE_EMULATOR_HOST`` set the SDK talks to that emulator without credentials, as
Go's client does. Small files go up in one request; larger ones through a resumable
upload that is only finalized (and so only listed) after its last byte. Reads pin the
object generation they started with, so a concurrent rewrite cannot mix two versions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from google.api_core import exceptions as gx
from google.cloud import storage  # type: ignore[import-untyped]
from google.cloud.storage.retry import DEFAULT_RETRY  # type: ignore[import-untyped]

from litestream_core.backend_support.legacy import legacy_key, legacy_prefix, legacy_relative
from litestream_core.backend_support.listing import ltx_range, next_page
from litestream_core.backend_support.parts import PartReader
from litestream_core.backend_support.sdk import LazySDK, call_in_thread
from litestream_core.backend_support.timestamps import (
    format_timestamp,
    ms_to_datetime,
    parse_timestamp,
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
from litestream_core.errors import ObjectExistsError, ReplicaClientError
from litestream_gcs.errors import Where, translate
from litestream_gcs.settings import GCSSettings, settings_from

METADATA_KEY = "litestream-timestamp"
"""Go's ``gs.MetadataKeyTimestamp``: a custom metadata key on each object."""
SINGLE_UPLOAD_MAX = 8 * 1024 * 1024
"""Files below this go up in one request (the SDK's own multipart limit)."""
UPLOAD_CHUNK = 8 * 1024 * 1024
"""Resumable upload chunk: a multiple of 256 KiB, as GCS requires."""
READ_CHUNK = 1024 * 1024
"""Bytes fetched per ranged GET while streaming a file."""
DELETE_CONCURRENCY = 16
LIST_PAGE_SIZE = 1000
"""Objects per listing page."""
CONTENT_TYPE = "application/octet-stream"
_T = TypeVar("_T")


class GCSReplicaClient(ReplicaClient):
    """A replica in a GCS bucket; see the module docstring."""

    type: ClassVar[str] = "gs"

    def __init__(self, settings: GCSSettings, *, retry_timeout: float | None = None) -> None:
        """``retry_timeout`` bounds the SDK's own retries (by default the ``timeout``
        setting); the engine retries beyond it and reports each failure."""
        self.settings = settings
        retry_for = settings.timeout if retry_timeout is None else retry_timeout
        self._retry = DEFAULT_RETRY.with_timeout(retry_for).with_delay(initial=0.25, maximum=4.0)
        self._where = Where(settings.bucket, _credential_source())
        self._bucket: LazySDK[Any] = LazySDK(
            "gs", self._connect, lambda exc: translate(exc, self._where, "connect")
        )

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> GCSReplicaClient:
        return cls(settings_from(url, options))

    def __repr__(self) -> str:
        return f"GCSReplicaClient(gs://{self.settings.bucket}/{self.settings.path})"

    # -- Lifecycle ------------------------------------------------------------------------

    async def init(self) -> None:
        await self._get_bucket()

    async def close(self) -> None:
        bucket = self._bucket.close()
        if bucket is not None:
            await asyncio.to_thread(bucket.client.close)

    async def _get_bucket(self) -> Any:
        return await self._bucket.get()

    def _connect(self) -> Any:
        return storage.Client(project=None).bucket(self.settings.bucket)

    async def _run(self, op: str, key: str, call: Callable[..., _T], /, **kwargs: Any) -> _T:
        """Run a blocking SDK call in a thread, translating its errors."""
        return await call_in_thread(
            call, lambda exc: translate(exc, self._where, op, key), **kwargs
        )

    # -- Listing --------------------------------------------------------------------------

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        # Listings carry custom metadata at no extra cost, so use_metadata changes nothing.
        bucket = await self._get_bucket()
        prefix = self.settings.level_dir(level) + "/"
        request: dict[str, Any] = {
            "prefix": prefix,
            "retry": self._retry,
            "page_size": LIST_PAGE_SIZE,
            "timeout": self.settings.timeout,
        }
        if seek > 0:
            # Names sort by min TXID (fixed-width hex), so GCS can skip what precedes seek.
            request["start_offset"] = f"{prefix}{seek:016x}"
        pages = (await self._run("list", prefix, bucket.list_blobs, **request)).pages
        while True:
            page = await self._run("list", prefix, next_page, pages=pages)
            if page is None:
                return
            for blob in page:
                if (txids := ltx_range(blob.name[len(prefix) :], seek)) is None:
                    continue
                min_txid, max_txid = txids
                stamp = (blob.metadata or {}).get(METADATA_KEY)
                created_at = (parse_timestamp(stamp) if stamp else None) or blob.time_created
                yield LTXFileInfo(level, min_txid, max_txid, int(blob.size), created_at)

    # -- Reading --------------------------------------------------------------------------

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        bucket = await self._get_bucket()
        key = self.settings.key(level, min_txid, max_txid)
        where = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
        try:
            blob = await asyncio.to_thread(
                bucket.get_blob, key, retry=self._retry, timeout=self.settings.timeout
            )
        except Exception as exc:
            raise translate(exc, self._where, "get", key, **where) from exc
        if blob is None:
            raise self._where.failure("get", key, **where).not_found()
        end = int(blob.size) if size <= 0 else min(int(blob.size), offset + size)
        return _RangeStream(self, blob, offset, end)

    # -- Go 0.3's generations/ layout (SupportsLegacyLayout) -----------------------------

    async def legacy_files(self) -> list[LegacyFileInfo]:
        bucket = await self._get_bucket()
        prefix = legacy_prefix(self.settings.path)
        pages = (
            await self._run(
                "list", prefix, bucket.list_blobs,
                prefix=prefix, retry=self._retry, page_size=LIST_PAGE_SIZE,
            )
        ).pages  # fmt: skip
        found = []
        while (page := await self._run("list", prefix, next_page, pages=pages)) is not None:
            for blob in page:
                relative = legacy_relative(prefix, blob.name)
                found.append(LegacyFileInfo(relative, int(blob.size), blob.time_created))
        return found

    async def open_legacy_file(self, path: str) -> AsyncByteStream:
        bucket = await self._get_bucket()
        key = legacy_key(self.settings.path, path)
        try:
            blob = await asyncio.to_thread(bucket.get_blob, key, retry=self._retry)
        except Exception as exc:
            raise translate(exc, self._where, "get", key) from exc
        if blob is None:
            raise self._where.failure("get", key).not_found()
        return _RangeStream(self, blob, 0, int(blob.size))

    # -- Writing --------------------------------------------------------------------------

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        bucket = await self._get_bucket()
        key = self.settings.key(level, min_txid, max_txid)
        reader = PartReader(data)
        first = await reader.read(SINGLE_UPLOAD_MAX)
        timestamp = upload_timestamp(first)
        blob = bucket.blob(key, chunk_size=UPLOAD_CHUNK)
        blob.metadata = {METADATA_KEY: format_timestamp(timestamp)}
        if len(first) < SINGLE_UPLOAD_MAX:
            await self._run(
                "put", key, blob.upload_from_string,
                data=first, content_type=CONTENT_TYPE, retry=self._retry,
                timeout=self.settings.timeout,
            )  # fmt: skip
            size = len(first)
        else:
            size = await self._resumable(blob, key, first, reader)
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate``: a generation-0 precondition (``ifGenerationMatch=0``),
        which GCS (and fake-gcs-server) refuse with 412 when the object exists."""
        bucket = await self._get_bucket()
        key = self.settings.key(level, min_txid, max_txid)
        blob = bucket.blob(key)
        blob.metadata = {METADATA_KEY: format_timestamp(upload_timestamp(data))}
        try:
            await asyncio.to_thread(
                blob.upload_from_string, data=data, content_type=CONTENT_TYPE,
                if_generation_match=0, timeout=self.settings.timeout,
            )  # fmt: skip
        except gx.PreconditionFailed:
            raise ObjectExistsError(
                f"gs: {key} exists already", op="create", level=level, min_txid=min_txid,
                max_txid=max_txid,
            ) from None  # fmt: skip
        except Exception as exc:
            raise translate(exc, self._where, "create", key) from exc

    async def _resumable(self, blob: Any, key: str, first: bytes, reader: PartReader) -> int:
        """Stream through a resumable upload, finalized (and so listed) only at the end.

        The SDK's upload loop runs in a worker thread and pulls the data through a
        blocking view of the reader. It finalizes the upload when a read returns less
        than a chunk, which the reader does only at the true end of the data; a failure
        or cancellation before that leaves an unfinalized session and no object. The
        SDK's own retries are off here because they would rewind the stream.
        """
        source = _BlockingSource(first, reader, asyncio.get_running_loop())
        try:
            await asyncio.to_thread(
                blob.upload_from_file, source, content_type=CONTENT_TYPE, retry=None,
                timeout=self.settings.timeout,
            )  # fmt: skip
        except BaseException as exc:
            source.abort()
            if source.error is not None:
                raise source.error from None
            if isinstance(exc, Exception) and not isinstance(exc, ReplicaClientError):
                raise translate(exc, self._where, "upload", key) from exc
            raise
        return source.tell()

    # -- Deleting -------------------------------------------------------------------------

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        await self._delete_keys([self.settings.key(f.level, f.min_txid, f.max_txid) for f in files])

    async def delete_all(self) -> None:
        bucket = await self._get_bucket()
        prefix = self.settings.delete_all_prefix
        listing = await self._run(
            "list", prefix, bucket.list_blobs,
            prefix=prefix, retry=self._retry, page_size=LIST_PAGE_SIZE,
            timeout=self.settings.timeout,
        )  # fmt: skip
        pages = listing.pages
        while (page := await self._run("list", prefix, next_page, pages=pages)) is not None:
            await self._delete_keys([blob.name for blob in page])

    async def _delete_keys(self, keys: Sequence[str]) -> None:
        bucket = await self._get_bucket()
        limit = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def delete(key: str) -> None:
            async with limit:
                try:
                    await asyncio.to_thread(
                        bucket.delete_blob, key, retry=self._retry, timeout=self.settings.timeout
                    )
                except gx.NotFound:
                    pass  # already gone
                except Exception as exc:
                    raise translate(exc, self._where, "delete", key) from exc

        await asyncio.gather(*(delete(key) for key in keys))


def _credential_source() -> str:
    if host := os.environ.get("STORAGE_EMULATOR_HOST"):
        return f"no credentials (STORAGE_EMULATOR_HOST={host})"
    if path := os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return f"credentials from GOOGLE_APPLICATION_CREDENTIALS ({path})"
    return "application default credentials"


class _BlockingSource:
    """A blocking, file-like view of a PartReader, for an SDK loop in a worker thread.

    ``read(n)`` returns exactly ``n`` bytes until the data ends, as the SDK's resumable
    upload requires; ``abort()`` (from the event loop) makes a blocked or later read
    fail, so the upload stops without being finalized.
    """

    def __init__(self, first: bytes, reader: PartReader, loop: asyncio.AbstractEventLoop) -> None:
        self._pending = first
        self._reader = reader
        self._loop = loop
        self._pos = 0
        self._lock = threading.Lock()
        self._future: concurrent.futures.Future[bytes] | None = None
        self._aborted = False
        self.error: BaseException | None = None
        """What the data source raised, to be re-raised as itself, not as a storage error."""

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(UPLOAD_CHUNK), b""))
        out, self._pending = self._pending[:n], self._pending[n:]
        if len(out) < n:
            with self._lock:
                if self._aborted:
                    raise _UploadAborted
                self._future = asyncio.run_coroutine_threadsafe(
                    self._reader.read(n - len(out)), self._loop
                )
            try:
                out += self._future.result()
            except concurrent.futures.CancelledError:
                raise _UploadAborted from None
            except BaseException as exc:
                self.error = exc
                raise
        self._pos += len(out)
        return out

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            future = self._future
        if future is not None:
            future.cancel()


class _UploadAborted(Exception):
    """The write was cancelled or failed; the upload must not be finalized."""


class _RangeStream(AsyncByteStream):
    """Streams ``[pos, end)`` of one object generation in bounded ranged reads."""

    def __init__(self, client: GCSReplicaClient, blob: Any, pos: int, end: int) -> None:
        self._client = client
        self._blob = blob
        self._pos = pos
        self._end = end
        self._buffer = b""

    async def read(self, n: int = -1) -> bytes:
        if not self._buffer and self._pos < self._end:
            want = self._end - self._pos if n < 0 else max(n, READ_CHUNK)
            stop = min(self._end, self._pos + want)
            self._buffer = await self._client._run(
                "read", self._blob.name, self._blob.download_as_bytes,
                start=self._pos, end=stop - 1, raw_download=True,
                if_generation_match=self._blob.generation, retry=self._client._retry,
                timeout=self._client.settings.timeout,
            )  # fmt: skip
            self._pos += len(self._buffer)
            if not self._buffer:
                self._pos = self._end  # the object shrank under us; end the stream
        take = len(self._buffer) if n < 0 else n
        chunk, self._buffer = self._buffer[:take], self._buffer[take:]
        return chunk

    async def aclose(self) -> None:
        self._buffer, self._pos = b"", self._end
