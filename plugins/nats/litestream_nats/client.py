"""The NATS JetStream object-store ReplicaClient (nats-py, native asyncio).

Objects are named ``ltx/<level>/<min>-<max>.ltx`` at the root of the bucket and carry
the LTX header's timestamp in the ``Litestream-Timestamp`` object header (RFC 3339,
UTC), exactly as Go Litestream writes them, so either tool reads the other's replica.
Listings include headers at no extra cost, so every listing has exact timestamps.

As in Go, the bucket must exist already: its replication, storage and limits are the
operator's choice, not ours. nats-py reconnects on its own; an operation that fails
while it does is a TransientReplicaError for the engine to retry.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any, ClassVar, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client, RawCredentials
from nats.js import api
from nats.js.object_store import (
    OBJ_CHUNKS_PRE_TEMPLATE,
    OBJ_DEFAULT_CHUNK_SIZE,
    OBJ_META_PRE_TEMPLATE,
    ObjectStore,
)

from litestream_core.backend_support.listing import ltx_range
from litestream_core.backend_support.spool import new_spool, spool_ltx
from litestream_core.backend_support.timestamps import (
    format_timestamp,
    ms_to_datetime,
    parse_timestamp,
    upload_timestamp,
)
from litestream_core.client import (
    AsyncByteStream,
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
from litestream_core.ltx.header import format_filename
from litestream_nats import config as defaults
from litestream_nats.config import NATSConfig, resolve_config

log = logging.getLogger("litestream.nats")

T = TypeVar("T")
HEADER_KEY_TIMESTAMP = "Litestream-Timestamp"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CREDS_JWT = ("-----BEGIN NATS USER JWT-----", "------END NATS USER JWT------")
_CREDS_SEED = ("-----BEGIN USER NKEY SEED-----", "------END USER NKEY SEED------")

_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoRespondersError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.errors.UnexpectedEOF,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.DigestMismatchError,
    asyncio.TimeoutError,
    OSError,
)


def _object_time(info: api.ObjectInfo) -> datetime:
    """The LTX timestamp header, else the store's modification time (as Go does)."""
    headers = info.headers or {}
    values = headers.get(HEADER_KEY_TIMESTAMP)
    if isinstance(values, str):
        values = [values]
    if values and (parsed := parse_timestamp(str(values[0]))) is not None:
        return parsed
    return (parse_timestamp(info.mtime) if info.mtime else None) or _EPOCH


def _level_prefix(level: int) -> str:
    return f"ltx/{level}/"


_WRONG_LAST_SEQUENCE = 10071
"""JetStream's error code for a failed ``Expected-Last-Subject-Sequence`` check."""


async def _create_object(
    store: ObjectStore, name: str, data: bytes, headers: dict[str, list[str]]
) -> bool:
    """Publish an object as the object store does (ADR-20: chunks on ``$O.<bucket>.C.<nuid>``,
    then the meta message on ``$O.<bucket>.M.<name>``), the meta only if none exists.
    False if one did; the chunks published are purged again."""
    js, bucket = store._js, store._name
    nuid = js._nc._nuid.next().decode()
    chunks = OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=bucket, obj=nuid)
    size = OBJ_DEFAULT_CHUNK_SIZE
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    for part in parts:
        await js.publish(chunks, part)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()
    info = api.ObjectInfo(
        name=name, bucket=bucket, nuid=nuid, size=len(data), chunks=len(parts),
        headers=headers, options=api.ObjectMetaOptions(max_chunk_size=size),
        mtime=datetime.now(UTC).isoformat(), digest=f"SHA-256={digest}",
    )  # fmt: skip
    meta = OBJ_META_PRE_TEMPLATE.format(
        bucket=bucket, obj=base64.urlsafe_b64encode(name.encode()).decode()
    )
    try:
        await js.publish(
            meta, json.dumps(info.as_dict()).encode(),
            headers={api.Header.ROLLUP: "sub", api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: "0"},
        )  # fmt: skip
    except nats.js.errors.APIError as exc:
        await js.purge_stream(store._stream, subject=chunks)
        if exc.err_code == _WRONG_LAST_SEQUENCE:
            return False
        raise
    return True


def _object_name(level: int, min_txid: int, max_txid: int) -> str:
    return _level_prefix(level) + format_filename(min_txid, max_txid)


class NATSReplicaClient(ReplicaClient):
    """Replica in a JetStream object-store bucket; see the module docstring."""

    type: ClassVar[str] = "nats"

    def __init__(self, config: NATSConfig) -> None:
        self.config = config
        self._nc: Client | None = None
        self._store: ObjectStore | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._closing: set[asyncio.Future[None]] = set()

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> NATSReplicaClient:
        return cls(resolve_config(url, options))

    def __repr__(self) -> str:
        return f"NATSReplicaClient({self.config.display_servers}, bucket={self.config.bucket})"

    # -- connecting -----------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self.config.uses_tls:
            return None
        context = ssl.create_default_context()
        try:
            for path in self.config.root_cas:
                context.load_verify_locations(cafile=path)
            if self.config.client_cert:
                context.load_cert_chain(self.config.client_cert, self.config.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"nats: cannot load TLS files: {exc}") from exc
        return context

    def _auth_options(self) -> dict[str, Any]:
        """Credentials in Go's order of precedence; secrets go to nats-py only."""
        c = self.config
        if c.jwt and c.seed:
            # nats-py takes a JWT and seed pair as the text of a .creds file.
            jwt_part = f"{_CREDS_JWT[0]}\n{c.jwt.strip()}\n{_CREDS_JWT[1]}\n\n"
            seed_part = f"{_CREDS_SEED[0]}\n{c.seed.strip()}\n{_CREDS_SEED[1]}\n"
            creds = jwt_part + seed_part
            return {"user_credentials": RawCredentials(creds)}
        if c.creds:
            return {"user_credentials": c.creds}
        if c.nkey:
            if c.nkey.startswith("SU"):
                return {"nkeys_seed_str": c.nkey}
            if c.nkey.startswith("U"):
                raise ConfigError(
                    "nats: nkey holds a public key; give the user's seed (SU...) or a seed file"
                )
            return {"nkeys_seed": c.nkey}
        if c.username and c.password:
            return {"user": c.username, "password": c.password}
        if c.token:
            return {"token": c.token}
        return {}

    async def _open_connection(self) -> Client:
        c = self.config
        tls, auth = self._tls_context(), self._auth_options()
        seen: list[Exception] = []

        async def remember(exc: Exception) -> None:
            seen.append(exc)
            log.debug("nats client error", extra={"error": str(exc)})

        try:
            # The first connection is tried a bounded number of times and gives up on a
            # refused login, so init() reports problems instead of retrying forever;
            # once connected, nats-py reconnects as configured (see _connect).
            return await nats.connect(
                servers=list(c.servers),
                error_cb=remember,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=min(c.reconnect_wait, 1.0),
                connect_timeout=max(1, round(c.timeout)),
                ping_interval=defaults.PING_INTERVAL,
                max_outstanding_pings=defaults.MAX_PINGS_OUT,
                pending_size=defaults.RECONNECT_BUFFER,
                tls=tls,
                **auth,
            )
        except Exception as exc:
            raise self._connect_error(exc, seen[-1] if seen else None) from exc

    def _connect_error(self, exc: Exception, last: Exception | None) -> ReplicaClientError:
        """One line for a failed first connection; a refusal is not worth retrying."""
        where = self.config.display_servers
        for cause in (exc, last):
            if isinstance(cause, nats.errors.AuthorizationError) or (
                cause is not None and "authorization" in str(cause).lower()
            ):
                return ReplicaPermissionError(
                    f"nats: authorization failed at {where}", op="connect"
                )
            if isinstance(cause, ssl.SSLCertVerificationError):
                return ReplicaPermissionError(
                    f"nats: TLS certificate of {where} not trusted: {cause.verify_message}",
                    op="connect",
                    hint="set root-cas to the CA that signed it",
                )
        name = type(last or exc).__name__
        return TransientReplicaError(f"nats: cannot connect to {where}: {name}", op="connect")

    async def _connect(self) -> ObjectStore:
        if self._closed:
            raise ReplicaClientError("nats replica client is closed", op="init")
        if self._nc is not None and self._nc.is_closed:
            # nats-py gave up reconnecting (max-reconnects): start over with a new one.
            self._nc, self._store = None, None
        if self._store is not None:
            return self._store
        c = self.config

        nc = await self._open_connection()
        nc.options["allow_reconnect"] = c.max_reconnects != 0
        nc.options["max_reconnect_attempts"] = c.max_reconnects
        nc.options["reconnect_time_wait"] = c.reconnect_wait
        try:
            store = await nc.jetstream(timeout=c.timeout).object_store(c.bucket)
        except nats.js.errors.NotFoundError as exc:
            await nc.close()
            raise ReplicaClientError(
                f"nats: object store bucket {c.bucket!r} does not exist",
                op="init",
                hint=f"create it first, e.g. `nats object add {c.bucket}`",
            ) from exc
        except BaseException as exc:
            await nc.close()
            if isinstance(exc, Exception):
                raise self._translate("init", exc, {}) from exc
            raise
        self._nc, self._store = nc, store
        return store

    async def _object_store(self) -> ObjectStore:
        async with self._lock:
            return await self._connect()

    def _translate(self, op: str, exc: Exception, where: Mapping[str, Any]) -> Exception:
        if isinstance(exc, nats.js.errors.NotFoundError):
            return LTXNotFoundError(f"nats: {op}: object not found", op=op, **where)
        if isinstance(exc, nats.errors.AuthorizationError) or (
            isinstance(exc, nats.js.errors.APIError) and exc.code == 403
        ):
            return ReplicaPermissionError(f"nats: {op}: permission denied", op=op, **where)
        if isinstance(exc, _TRANSIENT):
            return TransientReplicaError(
                f"nats: {op} failed at {self.config.display_servers}: {type(exc).__name__}",
                op=op,
                **where,
            )
        return ReplicaClientError(f"nats: {op} failed: {exc}", op=op, **where)

    async def _call(self, op: str, call: Awaitable[T], **where: Any) -> T:
        try:
            return await call
        except ReplicaClientError:
            raise
        except Exception as exc:
            if isinstance(exc, nats.errors.TimeoutError | asyncio.TimeoutError):
                await self._check_connection()
            raise self._translate(op, exc, where) from exc

    async def _check_connection(self) -> None:
        """After a request timed out: drop the connection if a ping gets no answer.

        nats-py notices a connection that silently stopped only when its own pings go
        unanswered, minutes later; until then every request would time out on it. A
        dropped connection is replaced by the next call.
        """
        nc = self._nc
        if nc is None or nc.is_closed:
            return
        try:
            await nc.flush(timeout=max(1, round(self.config.timeout)))
            return
        except Exception as exc:
            log.info("nats connection does not answer; reconnecting",
                     extra={"servers": self.config.display_servers,
                            "error": type(exc).__name__})  # fmt: skip
        async with self._lock:
            if self._nc is nc:
                self._nc, self._store = None, None
        # Closing flushes first, which on a dead link waits: not on the caller's time.
        task = asyncio.ensure_future(asyncio.wait_for(nc.close(), self.config.timeout))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    # -- ReplicaClient --------------------------------------------------------------

    async def init(self) -> None:
        await self._object_store()

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            nc, self._nc, self._store = self._nc, None, None
        if nc is not None:
            try:
                await nc.close()
            except Exception:
                log.debug("closing the nats connection failed", exc_info=True)

    async def _objects(self, op: str) -> list[api.ObjectInfo]:
        store = await self._object_store()
        try:
            return await self._call(op, store.list(ignore_deletes=True))
        except LTXNotFoundError:
            return []  # nats-py reports an empty bucket as "not found"

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        prefix = _level_prefix(level)
        infos: list[LTXFileInfo] = []
        for obj in await self._objects("list"):
            if obj.deleted or not obj.name.startswith(prefix):
                continue
            if (txids := ltx_range(obj.name[len(prefix) :], seek)) is not None:
                min_txid, max_txid = txids
                infos.append(
                    LTXFileInfo(level, min_txid, max_txid, obj.size or 0, _object_time(obj))
                )
        infos.sort(key=lambda info: (info.min_txid, info.max_txid))
        for info in infos:
            yield info

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        where: dict[str, Any] = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
        store = await self._object_store()
        spool = new_spool()
        try:
            name = _object_name(level, min_txid, max_txid)
            await self._call("open", self._download(store, name, spool), **where)
            spool.seek(offset)
        except LTXNotFoundError as exc:
            spool.close()
            raise LTXNotFoundError(
                f"LTX file not found: level {level}, {format_filename(min_txid, max_txid)}",
                op="open",
                **where,
            ) from exc
        except BaseException:
            spool.close()
            raise
        return _SpoolStream(spool, size if size > 0 else None)

    async def _download(self, store: ObjectStore, name: str, spool: IO[bytes]) -> None:
        """Fetch an object into the spool; give up when no bytes arrive for ``timeout``.

        nats-py waits for the object's chunks without a deadline, and a server lost
        mid-download would otherwise leave the caller waiting forever.
        """
        writer = _ProgressWriter(spool)
        task = asyncio.ensure_future(store.get(name, writeinto=writer))  # type: ignore[arg-type]
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=min(1.0, self.config.timeout))
                if not task.done() and time.monotonic() - writer.last > self.config.timeout:
                    await self._check_connection()
                    raise TransientReplicaError(f"nats: download of {name} stalled", op="open")
            task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        where = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
        source, timestamp, size = await spool_ltx(data)
        try:
            store = await self._object_store()
            name = _object_name(level, min_txid, max_txid)
            meta = api.ObjectMeta(
                name=name, headers={HEADER_KEY_TIMESTAMP: [format_timestamp(timestamp)]}
            )
            info = await self._call("write", store.put(name, source, meta=meta), **where)  # type: ignore[arg-type]
        finally:
            source.close()
        created_at = ms_to_datetime(timestamp)
        return LTXFileInfo(level, min_txid, max_txid, info.size or size, created_at)

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate``: the object's meta message is published with a
        revision check (``Nats-Expected-Last-Subject-Sequence: 0``), which JetStream
        refuses if the name has any meta message yet; the chunks then go again."""
        where = {"level": level, "min_txid": min_txid, "max_txid": max_txid}
        store = await self._object_store()
        name = _object_name(level, min_txid, max_txid)
        headers = {HEADER_KEY_TIMESTAMP: [format_timestamp(upload_timestamp(data))]}
        if not await self._call("create", _create_object(store, name, data, headers), **where):
            raise ObjectExistsError(f"nats: {name} exists already", op="create", **where)

    async def _delete(self, store: ObjectStore, name: str) -> None:
        try:
            await self._call("delete", store.delete(name))
        except LTXNotFoundError:
            return

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        if not files:
            return
        store = await self._object_store()
        for info in files:
            await self._delete(store, _object_name(info.level, info.min_txid, info.max_txid))

    async def delete_all(self) -> None:
        """Delete every ``ltx/`` object; Go empties the whole bucket, we keep to ours."""
        store = await self._object_store()
        for obj in await self._objects("delete_all"):
            if not obj.deleted and obj.name.startswith("ltx/"):
                await self._delete(store, obj.name)


class _ProgressWriter:
    """Where nats-py writes a download: the spool, noting when bytes last arrived."""

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool
        self.last = time.monotonic()

    def write(self, data: bytes) -> int:
        self.last = time.monotonic()
        return self._spool.write(data)


class _SpoolStream(AsyncByteStream):
    """A downloaded object, read from its spool up to an optional limit."""

    def __init__(self, spool: IO[bytes], limit: int | None) -> None:
        self._spool = spool
        self._remaining = limit

    async def read(self, n: int = -1) -> bytes:
        if self._spool.closed or self._remaining == 0:
            return b""
        want = n
        if self._remaining is not None:
            want = self._remaining if n < 0 else min(n, self._remaining)
        data = self._spool.read(want)
        if self._remaining is not None:
            self._remaining -= len(data)
        return data

    async def aclose(self) -> None:
        self._spool.close()


__all__ = ["HEADER_KEY_TIMESTAMP", "NATSReplicaClient", "format_timestamp", "parse_timestamp"]
