"""S3ReplicaClient: LTX files in an S3 bucket, laid out and tagged exactly as Go's.

Keys are ``<path>/<level as %04x>/<min:016x>-<max:016x>.ltx`` (Go's S3 layout has no
``ltx/`` segment and a hexadecimal level), and every object carries the LTX header's
time in the ``litestream-timestamp`` metadata, in Go's RFC 3339 text, so either tool
reads the other's replica and its point-in-time information.

boto3 is blocking, so each call runs in a worker thread. Files smaller than the part
size go up in one PutObject; larger ones stream through a multipart upload with up to
``concurrency`` parts in flight, so memory stays bounded and nothing is listed until the
upload completes (a failed or cancelled upload is aborted).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from litestream_core.backend_support.legacy import legacy_key, legacy_prefix, legacy_relative
from litestream_core.backend_support.listing import ltx_range
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
from litestream_core.errors import (
    LTXNotFoundError,
    ObjectExistsError,
    ReplicaClientError,
    ReplicaPermissionError,
)
from litestream_core.ltx.header import format_filename
from litestream_s3.errors import Where, translate
from litestream_s3.settings import DEFAULT_REGION, S3Settings, settings_from

logger = logging.getLogger("litestream.s3")

METADATA_KEY = "litestream-timestamp"
"""Go's ``s3.MetadataKeyTimestamp``; sent as the ``x-amz-meta-litestream-timestamp`` header."""
MAX_KEYS = 1000
"""Keys per DeleteObjects request (S3's limit)."""
LIST_PAGE_SIZE = 1000
"""Keys per ListObjectsV2 page (S3's maximum)."""
STALE_UPLOAD_AGE = 24 * 3600.0
"""Multipart uploads under the replica's path older than this are aborted at start: a
killed writer's parts are never listed but still stored (and billed). A day, since one
upload of a very large snapshot may take hours."""
METADATA_CONCURRENCY = 16
"""HeadObject calls in flight when a listing needs the header timestamps."""
_T = TypeVar("_T")


class S3ReplicaClient(ReplicaClient):
    """A replica in an S3 bucket (or an S3-compatible store); see the module docstring."""

    type: ClassVar[str] = "s3"

    def __init__(self, settings: S3Settings, *, max_attempts: int = 5) -> None:
        """``max_attempts`` bounds the SDK's own retries; the engine retries beyond it."""
        self.settings = settings
        self._max_attempts = max_attempts
        self._where = Where(settings.bucket, settings.credential_source)
        # Connecting fails on, e.g., an endpoint boto3 cannot use.
        self._s3: LazySDK[Any] = LazySDK(
            "s3", self._connect, lambda exc: translate(exc, self._where, "connect to")
        )

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> S3ReplicaClient:
        return cls(settings_from(url, options))

    def __repr__(self) -> str:
        return f"S3ReplicaClient(s3://{self.settings.bucket}/{self.settings.path})"

    # -- Lifecycle ------------------------------------------------------------------------

    async def init(self) -> None:
        await self._client()

    async def close(self) -> None:
        s3 = self._s3.close()
        if s3 is not None:
            s3.close()

    async def _client(self) -> Any:
        """The boto3 client, made on first use (Go's methods call Init the same way)."""
        return await self._s3.get()

    def _connect(self) -> Any:
        s = self.settings
        if s.credentials is not None:
            session = boto3.session.Session(
                aws_access_key_id=s.credentials.access_key_id,
                aws_secret_access_key=s.credentials.secret_access_key,
            )
        else:
            session = boto3.session.Session()
            found = session.get_credentials()
            if found is None:
                raise ReplicaPermissionError(
                    f"s3: no AWS credentials found for bucket {s.bucket!r}",
                    op="init",
                    hint="set access-key-id and secret-access-key, LITESTREAM_ACCESS_KEY_ID and "
                    "LITESTREAM_SECRET_ACCESS_KEY, or configure the AWS credential chain",
                )
            self._where.credential_source = f"the AWS default credential chain ({found.method})"
        region = s.region or (DEFAULT_REGION if s.endpoint else self._bucket_region(session))
        s3 = session.client(
            "s3",
            region_name=region,
            endpoint_url=s.endpoint_url,
            verify=False if s.skip_verify else None,  # None keeps AWS_CA_BUNDLE working
            config=self._config(region),
        )
        if s.require_content_md5:
            s3.meta.events.register("before-sign.s3.DeleteObjects", _add_content_md5)
        if s.is_tigris:
            s3.meta.events.register("before-sign.s3", _add_tigris_consistent)
        if s.sign_accept_encoding:
            s3.meta.events.register("before-sign.s3", _sign_accept_encoding)
        return s3

    def _config(self, region: str) -> Any:
        s = self.settings
        options: dict[str, Any] = {
            "region_name": region,
            "signature_version": "s3v4",
            "user_agent_appid": "litestream",
            "retries": {"mode": "standard", "max_attempts": self._max_attempts},
            # Per connection and per socket read or send, not per request: a big
            # upload that keeps moving is never cut off.
            "connect_timeout": s.timeout,
            "read_timeout": s.timeout,
            "max_pool_connections": max(METADATA_CONCURRENCY, 2 * s.concurrency),
            "tcp_keepalive": True,
            "s3": {
                "addressing_style": "path" if s.force_path_style else "auto",
                "payload_signing_enabled": s.sign_payload,
            },
        }
        if s.endpoint:
            # S3-compatible stores reject the SDK's default aws-chunked checksums (Go #918).
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        return Config(**options)

    def _bucket_region(self, session: Any) -> str:
        """Go looks the region up when neither region nor endpoint is configured."""
        lookup = session.client(
            "s3",
            region_name=DEFAULT_REGION,
            verify=False if self.settings.skip_verify else None,
            config=self._config(DEFAULT_REGION),
        )
        try:
            location = lookup.get_bucket_location(Bucket=self.settings.bucket)
        except Exception as exc:
            raise translate(exc, self._where, "look up region of") from exc
        finally:
            lookup.close()
        region = location.get("LocationConstraint") or DEFAULT_REGION
        return "eu-west-1" if region == "EU" else str(region)

    # -- Keys -----------------------------------------------------------------------------

    def _level_prefix(self, level: int) -> str:
        # Plain concatenation, as Go does: a config path is used verbatim.
        return f"{self.settings.path}/{level:04x}/"

    def _key(self, level: int, min_txid: int, max_txid: int) -> str:
        return self._level_prefix(level) + format_filename(min_txid, max_txid)

    async def _run(self, op: str, key: str, call: Callable[..., _T], /, **kwargs: Any) -> _T:
        """Run a blocking boto3 call in a thread, translating its errors."""
        return await call_in_thread(
            call, lambda exc: translate(exc, self._where, op, key), **kwargs
        )

    def _sse_args(self) -> dict[str, Any]:
        """SSE-C parameters, needed on every read and write of an SSE-C object."""
        s = self.settings
        if not s.sse_customer_key:
            return {}
        # botocore base64-encodes the raw key and adds its MD5 itself.
        return {
            "SSECustomerAlgorithm": s.sse_customer_algorithm,
            "SSECustomerKey": s.sse_customer_key,
        }

    def _put_args(self, timestamp_ms: int) -> dict[str, Any]:
        s = self.settings
        args: dict[str, Any] = {
            "Bucket": s.bucket,
            "Metadata": {METADATA_KEY: format_timestamp(timestamp_ms)},
            **self._sse_args(),
        }
        if s.storage_class:
            args["StorageClass"] = s.storage_class
        if s.sse_kms_key_id:
            args["ServerSideEncryption"] = "aws:kms"
            args["SSEKMSKeyId"] = s.sse_kms_key_id
        return args

    # -- Listing --------------------------------------------------------------------------

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        s3 = await self._client()
        prefix = self._level_prefix(level)
        request: dict[str, Any] = {
            "Bucket": self.settings.bucket,
            "Prefix": prefix,
            "MaxKeys": LIST_PAGE_SIZE,
        }
        if seek > 0:
            # Names sort by min TXID (fixed-width hex), so S3 can skip what precedes seek.
            request["StartAfter"] = f"{prefix}{seek:016x}"
        while True:
            page = await self._run("list", prefix, s3.list_objects_v2, **request)
            found = []
            for obj in page.get("Contents", ()):
                if (txids := ltx_range(obj["Key"][len(prefix) :], seek)) is not None:
                    found.append((obj, *txids))
            stamps = (
                await self._header_times([o["Key"] for o, _, _ in found]) if use_metadata else {}
            )
            for obj, min_txid, max_txid in found:
                created_at = stamps.get(obj["Key"]) or obj["LastModified"]
                yield LTXFileInfo(level, min_txid, max_txid, int(obj["Size"]), created_at)
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    async def _header_times(self, keys: Sequence[str]) -> dict[str, datetime]:
        """The stored header timestamps of these objects, fetched in parallel."""
        s3 = await self._client()
        limit = asyncio.Semaphore(METADATA_CONCURRENCY)

        async def one(key: str) -> tuple[str, datetime | None]:
            async with limit:
                try:
                    head = await self._run(
                        "head",
                        key,
                        s3.head_object,
                        Bucket=self.settings.bucket,
                        Key=key,
                        **self._sse_args(),
                    )
                except LTXNotFoundError:
                    return key, None  # deleted since the listing: keep its storage time
            text = head.get("Metadata", {}).get(METADATA_KEY)
            return key, parse_timestamp(text) if text else None

        results = await asyncio.gather(*(one(key) for key in keys))
        return {key: stamp for key, stamp in results if stamp is not None}

    # -- Reading --------------------------------------------------------------------------

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        s3 = await self._client()
        key = self._key(level, min_txid, max_txid)
        request: dict[str, Any] = {"Bucket": self.settings.bucket, "Key": key, **self._sse_args()}
        if offset or size:
            end = str(offset + size - 1) if size > 0 else ""
            request["Range"] = f"bytes={offset}-{end}"
        try:
            response = await asyncio.to_thread(s3.get_object, **request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return BytesStream(b"")  # the offset is at or past the end of the file
            raise translate(
                exc, self._where, "get", key, level=level, min_txid=min_txid, max_txid=max_txid
            ) from exc
        except Exception as exc:
            raise translate(
                exc, self._where, "get", key, level=level, min_txid=min_txid, max_txid=max_txid
            ) from exc
        return _BodyStream(
            response["Body"], functools.partial(translate, where=self._where, op="read", key=key)
        )

    # -- Go 0.3's generations/ layout (SupportsLegacyLayout) -----------------------------

    async def legacy_files(self) -> list[LegacyFileInfo]:
        s3 = await self._client()
        prefix = legacy_prefix(self.settings.path)
        request: dict[str, Any] = {
            "Bucket": self.settings.bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE_SIZE,
        }  # fmt: skip
        found = []
        while True:
            page = await self._run("list", prefix, s3.list_objects_v2, **request)
            for obj in page.get("Contents", ()):
                relative = legacy_relative(prefix, obj["Key"])
                found.append(LegacyFileInfo(relative, int(obj["Size"]), obj["LastModified"]))
            if not page.get("IsTruncated"):
                return found
            request["ContinuationToken"] = page["NextContinuationToken"]

    async def open_legacy_file(self, path: str) -> AsyncByteStream:
        s3 = await self._client()
        key = legacy_key(self.settings.path, path)
        request = {"Bucket": self.settings.bucket, "Key": key, **self._sse_args()}
        response = await self._run("get", key, s3.get_object, **request)
        return _BodyStream(
            response["Body"], functools.partial(translate, where=self._where, op="read", key=key)
        )

    # -- Writing --------------------------------------------------------------------------

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        s3 = await self._client()
        key = self._key(level, min_txid, max_txid)
        part_size = self.settings.part_size
        reader = PartReader(data)
        first = await reader.read(part_size)
        timestamp = upload_timestamp(first)
        args = {**self._put_args(timestamp), "Key": key}
        if len(first) < part_size:
            await self._run("put", key, s3.put_object, Body=first, ContentLength=len(first), **args)
            size = len(first)
        else:
            size = await self._multipart(s3, key, args, first, reader)
        return LTXFileInfo(level, min_txid, max_txid, size, ms_to_datetime(timestamp))

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate``: ``If-None-Match: *``, which S3 (since 2024), moto,
        MinIO, R2 and Tigris refuse with 412 when the key exists (409 while another
        conditional write of it is in flight: someone else is winning, the same)."""
        s3 = await self._client()
        key = self._key(level, min_txid, max_txid)
        args = {**self._put_args(upload_timestamp(data)), "Key": key}
        try:
            await asyncio.to_thread(
                s3.put_object, Body=data, ContentLength=len(data), IfNoneMatch="*", **args
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code")
            if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ObjectExistsError(
                    f"s3: {key} exists already", op="create", level=level, min_txid=min_txid,
                    max_txid=max_txid,
                ) from None  # fmt: skip
            raise translate(exc, self._where, "create", key, level=level, min_txid=min_txid,
                            max_txid=max_txid) from exc  # fmt: skip
        except Exception as exc:
            raise translate(exc, self._where, "create", key, level=level, min_txid=min_txid,
                            max_txid=max_txid) from exc  # fmt: skip

    async def _multipart(
        self, s3: Any, key: str, args: dict[str, Any], first: bytes, reader: PartReader
    ) -> int:
        """Upload parts as they are read, ``concurrency`` at a time; returns the size."""
        created = await self._run(
            "create multipart upload", key, s3.create_multipart_upload, **args
        )
        upload_id = created["UploadId"]
        ident = {"Bucket": self.settings.bucket, "Key": key, "UploadId": upload_id}

        async def upload(number: int, body: bytes) -> tuple[int, str]:
            response = await self._run(
                "upload part", key, s3.upload_part,
                PartNumber=number, Body=body, ContentLength=len(body), **ident, **self._sse_args(),
            )  # fmt: skip
            return number, str(response["ETag"])

        etags: dict[int, str] = {}
        pending: set[asyncio.Task[tuple[int, str]]] = set()
        size, number, part = 0, 1, first
        try:
            while part:
                while len(pending) >= self.settings.concurrency:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    etags.update(task.result() for task in done)
                pending.add(asyncio.create_task(upload(number, part)))
                size, number = size + len(part), number + 1
                part = await reader.read(self.settings.part_size)
            etags.update(await asyncio.gather(*pending))
            pending.clear()
            parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
            await self._run(
                "complete multipart upload", key, s3.complete_multipart_upload,
                MultipartUpload={"Parts": parts}, **ident,
            )  # fmt: skip
        except BaseException:
            for task in pending:
                task.cancel()
            # Not awaited: cleanup must not be stopped by the cancellation that may be
            # under way, and an unfinished upload is never listed anyway.
            try:
                asyncio.get_running_loop().run_in_executor(None, self._abort, s3, ident)
            except RuntimeError:  # the executor is shutting down: abort here instead
                self._abort(s3, ident)
            raise
        return size

    def _abort(self, s3: Any, ident: dict[str, Any]) -> None:
        try:
            s3.abort_multipart_upload(**ident)
        except Exception as exc:  # invisible meanwhile; retried at the next start
            logger.warning("s3: could not abort an unfinished multipart upload",
                           extra={"key": ident["Key"], "error": str(exc)})  # fmt: skip

    async def remove_stale_temp_files(self) -> int:
        """Abort multipart uploads that a killed or cut-off writer left unfinished."""
        s3 = await self._client()
        prefix = f"{self.settings.path}/"
        request: dict[str, Any] = {"Bucket": self.settings.bucket, "Prefix": prefix}
        cutoff = datetime.now(UTC) - timedelta(seconds=STALE_UPLOAD_AGE)
        removed = 0
        while True:
            page = await self._run("list uploads", prefix, s3.list_multipart_uploads, **request)
            for upload in page.get("Uploads", ()):
                key = upload["Key"]
                if upload["Initiated"] > cutoff or ltx_range(key.rsplit("/", 1)[-1]) is None:
                    continue
                ident = {"Bucket": self.settings.bucket, "Key": key, "UploadId": upload["UploadId"]}
                await self._run("abort upload", key, s3.abort_multipart_upload, **ident)
                logger.info("s3: aborted an abandoned multipart upload", extra={"key": key})
                removed += 1
            if not page.get("IsTruncated"):
                return removed
            request["KeyMarker"] = page["NextKeyMarker"]
            request["UploadIdMarker"] = page["NextUploadIdMarker"]

    # -- Deleting -------------------------------------------------------------------------

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        await self._delete_keys([self._key(f.level, f.min_txid, f.max_txid) for f in files])

    async def delete_all(self) -> None:
        s3 = await self._client()
        prefix = f"{self.settings.path}/"
        request: dict[str, Any] = {
            "Bucket": self.settings.bucket,
            "Prefix": prefix,
            "MaxKeys": LIST_PAGE_SIZE,
        }
        while True:
            page = await self._run("list", prefix, s3.list_objects_v2, **request)
            await self._delete_keys([obj["Key"] for obj in page.get("Contents", ())])
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    async def _delete_keys(self, keys: Sequence[str]) -> None:
        s3 = await self._client()
        for start in range(0, len(keys), MAX_KEYS):
            batch = keys[start : start + MAX_KEYS]
            response = await self._run(
                "delete", batch[0], s3.delete_objects,
                Bucket=self.settings.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )  # fmt: skip
            if errors := response.get("Errors"):
                first = errors[0]
                failure = ClientError({"Error": first}, "DeleteObjects")
                raise translate(
                    failure, self._where, f"delete ({len(errors)} failed)", first.get("Key", "")
                )


class _BodyStream(AsyncByteStream):
    """An S3 GetObject body, read in a worker thread."""

    def __init__(self, body: Any, on_error: Callable[[BaseException], ReplicaClientError]) -> None:
        self._body = body
        self._on_error = on_error
        self._closed = False

    async def read(self, n: int = -1) -> bytes:
        if self._closed:
            return b""
        try:
            return bytes(await asyncio.to_thread(self._body.read, None if n < 0 else n))
        except Exception as exc:
            raise self._on_error(exc) from exc

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._body.close()


def _add_content_md5(request: Any, **_: Any) -> None:
    """Go sends Content-MD5 on DeleteObjects: some S3-compatible stores require it."""
    body = request.body
    if isinstance(body, bytes) and "Content-MD5" not in request.headers:
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


def _sign_accept_encoding(request: Any, **_: Any) -> None:
    """Go's SDK signs ``Accept-Encoding: identity``; set before signing, it is signed
    here too (otherwise the HTTP library adds it afterwards, unsigned)."""
    request.headers["Accept-Encoding"] = "identity"


def _add_tigris_consistent(request: Any, **_: Any) -> None:
    """Tigris serves read-after-write consistency only when asked (as Go asks)."""
    request.headers["X-Tigris-Consistent"] = "true"
