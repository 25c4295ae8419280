"""The ReplicaClient contract every storage backend implements.

The method set mirrors Go Litestream's ``ReplicaClient`` one to one, so behaviour can be
checked against the Go backends, but it is async: NATS is asyncio-only, and one event
loop serves every database. A backend over a blocking SDK calls it through
``asyncio.to_thread`` inside its own methods.

Helpers that only *use* the contract (finding files, reading headers) are free
functions elsewhere, so the contract stays small.
"""

from __future__ import annotations

import abc
import builtins
import enum
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, NewType, Protocol, Self, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

TXID = NewType("TXID", int)

SNAPSHOT_LEVEL = 9
"""Level that holds full snapshots, as in Go Litestream 0.5."""


@dataclass(frozen=True, slots=True)
class LTXFileInfo:
    """One LTX file on a replica (Go's ``ltx.FileInfo``)."""

    level: int
    min_txid: int
    max_txid: int
    size: int
    created_at: datetime
    """The LTX header's timestamp where the backend keeps it, else the storage's time."""

    @property
    def name(self) -> str:
        return f"{self.min_txid:016x}-{self.max_txid:016x}.ltx"


@dataclass(frozen=True, slots=True)
class ReplicaURL:
    """A parsed replica URL such as ``s3://bucket/path?region=x`` or a plain path."""

    scheme: str
    host: str = ""
    path: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None
    port: int | None = None
    raw: str = ""

    @classmethod
    def parse(cls, url: str) -> ReplicaURL:
        """Parse like Go's url.Parse; a string with no scheme is a ``file`` path."""
        if "://" not in url:
            return cls(scheme="file", path=url, raw=url)
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            port = parts.port
        except ValueError:
            port = None  # a host with colons, e.g. s3://arn:aws:s3:...; its backend reads raw
        return cls(
            scheme=parts.scheme.lower(),
            host=parts.hostname or "",
            path=unquote(parts.path),
            query=query,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            port=port,
            raw=url,
        )

    def redacted(self) -> str:
        """The URL for logs: never shows a password or secret query values."""
        if not self.raw or "://" not in self.raw:
            return self.raw or self.path
        parts = urlsplit(self.raw)
        netloc = parts.hostname or ""
        if self.port:
            netloc = f"{netloc}:{self.port}"
        if self.username:
            netloc = f"{self.username}@{netloc}"
        return f"{self.scheme}://{netloc}{parts.path}"


class AsyncByteStream(abc.ABC):
    """A readable stream of an LTX file's bytes; LTX files can be as large as the database."""

    @abc.abstractmethod
    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all remaining if negative); ``b""`` only at the end."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the connection or file; safe to call twice."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read(1 << 20):
            yield chunk

    async def readall(self) -> bytes:
        parts = [chunk async for chunk in self]
        return b"".join(parts)


class BytesStream(AsyncByteStream):
    """An AsyncByteStream over bytes already in memory (small reads, tests)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    async def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else min(len(self._data), self._pos + n)
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk

    async def aclose(self) -> None:
        self._pos = len(self._data)


LTXData = bytes | AsyncIterable[bytes]
"""What ``write_ltx_file`` accepts: the whole file, or chunks of it in order."""


class Capability(enum.Enum):
    """Facts about a backend the method signatures cannot express.

    A backend declares them when it registers its scheme
    (``register(..., capabilities={...})``); the core stamps them on each client it
    builds from that registration, so a client that wraps another (to encrypt, say)
    claims nothing it did not declare itself.
    """

    ACCURATE_METADATA_TIMESTAMPS = "accurate-metadata-timestamps"
    """``use_metadata=True`` listings give the LTX header's timestamp exactly."""
    RANGE_READS = "range-reads"
    """``open_ltx_file`` with offset/size reads only that range from storage."""
    LOCAL_FILESYSTEM = "local-filesystem"
    """``client.file_path(level, min_txid, max_txid)`` names a local file holding exactly
    the stored bytes, so restore may read it directly from a worker thread."""
    CONDITIONAL_WRITES = "conditional-writes"
    """``create_exclusive`` is atomic: of two writers of one name exactly one succeeds
    (``SupportsExclusiveCreate``); what the replica lease needs."""


class ReplicaClient(abc.ABC):
    """A place LTX files are kept: one replica of one database.

    Files are addressed by ``(level, min_txid, max_txid)``; every method but ``type``
    may do I/O. Errors are ``litestream_core.errors.ReplicaClientError`` subclasses:
    a missing file is ``LTXNotFoundError`` (also a ``FileNotFoundError``), a transient
    failure is ``TransientReplicaError`` so the engine retries it.
    """

    type: ClassVar[str]
    capabilities: frozenset[Capability] = frozenset()
    """What the backend declared at registration; set on the instance by the core."""

    @abc.abstractmethod
    async def init(self) -> None:
        """Connect and validate configuration. Idempotent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent; the client may not be used afterwards."""

    @abc.abstractmethod
    def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        """Files of ``level`` with ``min_txid >= seek``, in ascending ``min_txid`` order.

        An empty or missing level yields nothing. With ``use_metadata`` the
        ``created_at`` values must be the LTX header timestamps (point-in-time restore
        needs them); without it a cheaper storage time is acceptable.
        """

    @abc.abstractmethod
    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        """A stream of the file's bytes from ``offset``; ``size`` 0 means to the end."""

    @abc.abstractmethod
    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        """Store a whole LTX file atomically: no reader ever sees part of it.

        The returned info's ``created_at`` is the timestamp in the LTX header, and the
        backend keeps it so later listings with ``use_metadata`` return it.
        """

    @abc.abstractmethod
    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        """Delete these files; files already gone are ignored."""

    @abc.abstractmethod
    async def delete_all(self) -> None:
        """Delete every file of this replica; fine on an empty replica."""

    async def __aenter__(self) -> Self:
        await self.init()
        return self

    async def __aexit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class ClientFactory(Protocol):
    """Builds a client for a URL; imports its SDK only when called.

    The second argument is an instance of the settings class the backend registered
    (``register(..., settings=...)``), or the replica's options as a plain mapping
    when it registered none.
    """

    def __call__(self, url: ReplicaURL, settings: Any, /) -> ReplicaClient: ...


@runtime_checkable
class SupportsExclusiveCreate(Protocol):
    """Optional: create a small file only if no file has its name, atomically.

    The one primitive the replica lease (``engine.lease``) needs: every backend has it
    (``If-None-Match: *`` on S3, generation 0 on GCS, ``If-None-Match`` on Azure, a
    rename that refuses an existing target on file and SFTP, a revision check on NATS).
    A backend declares ``Capability.CONDITIONAL_WRITES`` when it implements it.
    """

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """Store ``data`` (a whole, small LTX file) under the name, or raise
        ``ObjectExistsError`` if a file of that name exists; no reader sees part of it."""
        ...


@runtime_checkable
class SupportsLevelListing(Protocol):
    """Optional: say in one request which levels may hold files.

    A replica's probe at start looks for the newest file of every level (0 to 9);
    without this that is ten listings, most of them of empty levels, for each of
    a thousand databases starting at once. A backend where listing the level
    directories is one cheap request (the file backend) implements it.
    """

    async def ltx_levels(self) -> list[int]:
        """The levels that have a directory (or prefix) on the replica, ascending; a
        level not named holds no file."""
        ...


@runtime_checkable
class SupportsTempCleanup(Protocol):
    """Optional: a replica whose writes go through temporary files it can sweep.

    The replicator calls it once at start, so files a killed process or a lost
    connection left behind do not pile up (``backend_support.tempfiles`` decides which
    are abandoned).
    """

    async def remove_stale_temp_files(self) -> int:
        """Remove abandoned temporary files; returns how many were removed."""
        ...


@dataclass(frozen=True, slots=True)
class LegacyFileInfo:
    """A file Go Litestream 0.3 wrote, by its path under the replica's root."""

    path: str
    """Relative to the replica root, ``/``-separated: ``generations/<id>/wal/<name>``."""
    size: int
    created_at: datetime
    """The storage's time for the file, which is what Go 0.5 judges v0.3 files by."""


@runtime_checkable
class SupportsLegacyLayout(Protocol):
    """Optional: a backend that can read the ``generations/`` layout Go Litestream 0.3
    wrote (LZ4-framed snapshots and WAL segments), so ``restore`` can still use it."""

    async def legacy_files(self) -> list[LegacyFileInfo]:
        """Every file under ``<root>/generations/``, in any order (none: empty list)."""
        ...

    async def open_legacy_file(self, path: str) -> AsyncByteStream:
        """A stream of the stored (still compressed) bytes of ``path`` from the listing."""
        ...
