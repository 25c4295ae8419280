"""ABSReplicaClient: LTX files in an Azure Blob Storage container, laid out as Go's.

Keys are ``<path>/ltx/<level>/<min:016x>-<max:016x>.ltx`` and every blob carries the
LTX header's time in the ``litestreamtimestamp`` metadata (Go's RFC 3339 text; Azure
metadata names cannot contain a hyphen). Listings include metadata at no extra cost,
so they always report header times.

Small files go up in one Put Blob. Larger ones are staged as blocks, ``concurrency``
at a time, and become visible only when the block list is committed: a failed or
cancelled upload leaves only uncommitted blocks, which Azure discards by itself.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobBlock,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
    StandardBlobTier,
)

from litestream_abs.errors import Where, error_code, translate
from litestream_abs.settings import ABSSettings, settings_from
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
    BytesStream,
    LegacyFileInfo,
    LTXData,
    LTXFileInfo,
    ReplicaClient,
    ReplicaURL,
)
from litestream_core.errors import ObjectExistsError

METADATA_KEY = "litestreamtimestamp"
"""Go's ``abs.MetadataKeyTimestamp``: Azure metadata names are C# identifiers (no hyphen)."""
BLOCK_SIZE = 4 * 1024 * 1024
"""Files below this go up in one Put Blob; larger ones in blocks of this size."""
CONCURRENCY = 4
"""Blocks in flight during a staged upload."""
DELETE_CONCURRENCY = 16
LIST_PAGE_SIZE = 1000
"""Blobs per listing page."""
READ_CHUNK = 4 * 1024 * 1024
"""The largest range one download request fetches: bounds a read's memory."""
_T = TypeVar("_T")


class ABSReplicaClient(ReplicaClient):
    """A replica in an Azure Blob Storage container; see the module docstring."""

    type: ClassVar[str] = "abs"

    def __init__(self, settings: ABSSettings, *, retry_total: int = 3) -> None:
        """``retry_total`` bounds the SDK's own retries; the engine retries beyond it."""
        self.settings = settings
        self._retry_total = retry_total
        self._credential: Any = None
        self._where = Where(settings.container, settings.auth.source)
        self._container: LazySDK[Any] = LazySDK(
            "abs", self._connect, lambda exc: translate(exc, self._where, "connect")
        )

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> ABSReplicaClient:
        return cls(settings_from(url, options))

    def __repr__(self) -> str:
        return f"ABSReplicaClient(abs://{self.settings.container}/{self.settings.path})"

    # -- Lifecycle ------------------------------------------------------------------------

    async def init(self) -> None:
        await self._get_container()

    async def close(self) -> None:
        container = self._container.close()
        credential, self._credential = self._credential, None
        if container is not None:
            await asyncio.to_thread(container.close)
        if credential is not None and hasattr(credential, "close"):
            await asyncio.to_thread(credential.close)

    async def _get_container(self) -> Any:
        return await self._container.get()

    def _connect(self) -> Any:
        s = self.settings
        credential: Any
        if s.auth.kind == "sas":
            credential = s.auth.secret
        elif s.auth.kind == "shared-key":
            credential = {"account_name": s.account_name, "account_key": s.auth.secret}
        else:
            from azure.identity import DefaultAzureCredential

            credential = self._credential = DefaultAzureCredential()
        return ContainerClient(
            s.endpoint,
            s.container,
            credential=credential,
            retry_policy=ExponentialRetry(
                initial_backoff=1, increment_base=2, retry_total=self._retry_total
            ),
            # Per connection and per socket read or send: a big transfer that keeps
            # moving is never cut off.
            connection_timeout=s.timeout,
            read_timeout=s.timeout,
            max_single_get_size=READ_CHUNK,
            max_chunk_get_size=READ_CHUNK,
            user_agent="litestream",
        )

    async def _run(self, op: str, key: str, call: Callable[..., _T], /, **kwargs: Any) -> _T:
        """Run a blocking SDK call in a thread, translating its errors."""
        return await call_in_thread(
            call, lambda exc: translate(exc, self._where, op, key), **kwargs
        )

    # -- Listing --------------------------------------------------------------------------

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        # Listings carry metadata at no extra cost, so use_metadata changes nothing.
        container = await self._get_container()
        prefix = self.settings.level_dir(level) + "/"
        pages = await self._run(
            "list", "", _pages, container=container, prefix=prefix, metadata=True
        )
        while (page := await self._run("list", "", next_page, pages=pages)) is not None:
            for blob in page:
                if (txids := ltx_range(blob.name[len(prefix) :], seek)) is None:
                    continue
                min_txid, max_txid = txids
                stamp = (blob.metadata or {}).get(METADATA_KEY)
                created_at = (parse_timestamp(stamp) if stamp else None) or blob.creation_time
                yield LTXFileInfo(level, min_txid, max_txid, int(blob.size), created_at)

    # -- Reading --------------------------------------------------------------------------

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        container = await self._get_container()
        key = self.settings.key(level, min_txid, max_txid)
        blob = container.get_blob_client(key)
        try:
            downloader = await asyncio.to_thread(
                blob.download_blob, offset=offset, length=size or None, max_concurrency=1
            )
        except HttpResponseError as exc:
            if error_code(exc) == "InvalidRange":
                return BytesStream(b"")  # the offset is at or past the end of the blob
            where = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
            raise translate(exc, self._where, "get", key, **where) from exc
        except Exception as exc:
            where = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
            raise translate(exc, self._where, "get", key, **where) from exc
        return _DownloadStream(self, key, downloader)

    # -- Go 0.3's generations/ layout (SupportsLegacyLayout) -----------------------------

    async def legacy_files(self) -> list[LegacyFileInfo]:
        container = await self._get_container()
        prefix = legacy_prefix(self.settings.path)
        pages = await self._run(
            "list", "", _pages, container=container, prefix=prefix, metadata=False
        )
        found = []
        while (page := await self._run("list", "", next_page, pages=pages)) is not None:
            for blob in page:
                relative = legacy_relative(prefix, blob.name)
                found.append(LegacyFileInfo(relative, int(blob.size), blob.creation_time))
        return found

    async def open_legacy_file(self, path: str) -> AsyncByteStream:
        container = await self._get_container()
        key = legacy_key(self.settings.path, path)
        blob = container.get_blob_client(key)
        try:
            downloader = await asyncio.to_thread(blob.download_blob, max_concurrency=1)
        except Exception as exc:
            raise translate(exc, self._where, "get", key) from exc
        return _DownloadStream(self, key, downloader)

    # -- Writing --------------------------------------------------------------------------

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        container = await self._get_container()
        key = self.settings.key(level, min_txid, max_txid)
        reader = PartReader(data)
        first = await reader.read(BLOCK_SIZE)
        timestamp = upload_timestamp(first)
        blob = container.get_blob_client(key)
        properties: dict[str, Any] = {
            "metadata": {METADATA_KEY: format_timestamp(timestamp)},
            "content_settings": ContentSettings(content_type="application/octet-stream"),
            "standard_blob_tier": StandardBlobTier.HOT,
        }
        if len(first) < BLOCK_SIZE:
            await self._run(
                "put", key, blob.upload_blob,
                data=first, length=len(first), overwrite=True, **properties,
            )  # fmt: skip
            size = len(first)
        else:
            size = await self._staged(blob, key, first, reader, properties)
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate``: ``overwrite=False`` sends ``If-None-Match: *``,
        which Azure (and Azurite) refuse with 409 BlobAlreadyExists."""
        container = await self._get_container()
        key = self.settings.key(level, min_txid, max_txid)
        blob = container.get_blob_client(key)
        metadata = {METADATA_KEY: format_timestamp(upload_timestamp(data))}
        try:
            await asyncio.to_thread(
                blob.upload_blob, data=data, length=len(data), overwrite=False,
                metadata=metadata,
                content_settings=ContentSettings(content_type="application/octet-stream"),
            )  # fmt: skip
        except ResourceExistsError:
            raise ObjectExistsError(
                f"abs: {key} exists already", op="create", level=level, min_txid=min_txid,
                max_txid=max_txid,
            ) from None  # fmt: skip
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):
                raise ObjectExistsError(
                    f"abs: {key} exists already", op="create", level=level, min_txid=min_txid,
                    max_txid=max_txid,
                ) from None  # fmt: skip
            raise translate(exc, self._where, "create", key) from exc
        except Exception as exc:
            raise translate(exc, self._where, "create", key) from exc

    async def _staged(
        self, blob: Any, key: str, first: bytes, reader: PartReader, properties: dict[str, Any]
    ) -> int:
        """Stage blocks as they are read, then commit them all at once."""
        # A per-upload prefix keeps a concurrent writer's blocks of this blob apart; all
        # ids of one blob must have the same length.
        upload = uuid.uuid4().hex

        async def stage(number: int, body: bytes) -> None:
            await self._run(
                "stage block", key, blob.stage_block,
                block_id=_block_id(upload, number), data=body, length=len(body),
            )  # fmt: skip

        pending: set[asyncio.Task[None]] = set()
        size, count, part = 0, 0, first
        try:
            while part:
                while len(pending) >= CONCURRENCY:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                pending.add(asyncio.create_task(stage(count, part)))
                size, count = size + len(part), count + 1
                part = await reader.read(BLOCK_SIZE)
            await asyncio.gather(*pending)
            pending.clear()
        finally:
            for task in pending:
                task.cancel()
        blocks = [BlobBlock(block_id=_block_id(upload, n)) for n in range(count)]
        await self._run("commit", key, blob.commit_block_list, block_list=blocks, **properties)
        return size

    # -- Deleting -------------------------------------------------------------------------

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        await self._delete_keys([self.settings.key(f.level, f.min_txid, f.max_txid) for f in files])

    async def delete_all(self) -> None:
        container = await self._get_container()
        prefix = self.settings.delete_all_prefix
        pages = await self._run(
            "list", "", _pages, container=container, prefix=prefix, metadata=False
        )
        while (page := await self._run("list", "", next_page, pages=pages)) is not None:
            await self._delete_keys([blob.name for blob in page])

    async def _delete_keys(self, keys: Sequence[str]) -> None:
        container = await self._get_container()
        limit = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def delete(key: str) -> None:
            async with limit:
                try:
                    await asyncio.to_thread(container.delete_blob, key)
                except ResourceNotFoundError:
                    pass  # already gone
                except Exception as exc:
                    raise translate(exc, self._where, "delete", key) from exc

        await asyncio.gather(*(delete(key) for key in keys))


def _block_id(upload: str, number: int) -> str:
    return base64.b64encode(f"{upload}-{number:08d}".encode()).decode()


def _pages(container: Any, prefix: str, metadata: bool) -> Any:
    include = ["metadata"] if metadata else None
    listing = container.list_blobs(
        name_starts_with=prefix, include=include, results_per_page=LIST_PAGE_SIZE
    )
    return listing.by_page()


class _DownloadStream(AsyncByteStream):
    """A blob download, read in a worker thread a bounded range at a time."""

    def __init__(self, client: ABSReplicaClient, key: str, downloader: Any) -> None:
        self._client = client
        self._key = key
        self._downloader: Any = downloader

    async def read(self, n: int = -1) -> bytes:
        if self._downloader is None:
            return b""
        return bytes(await self._client._run("read", self._key, self._downloader.read, size=n))

    async def aclose(self) -> None:
        self._downloader = None
