"""An in-memory ReplicaClient: the reference behaviour, for unit tests of the engine.

It keeps every promise of the contract (sorted listings, seek, ranged reads, header
timestamps, atomic writes, idempotent deletes) and is stricter than a real backend
where strictness finds bugs in callers: using it before ``init()`` or after ``close()``
raises. Clients built on one :class:`MemoryStore` see the same replica, like two
processes pointed at one bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from litestream_core.backend_support.timestamps import upload_timestamp
from litestream_core.client import (
    AsyncByteStream,
    BytesStream,
    Capability,
    LTXData,
    LTXFileInfo,
    ReplicaClient,
    ReplicaURL,
)
from litestream_core.errors import LTXNotFoundError, ObjectExistsError, ReplicaClientError
from litestream_core.ltx.header import HEADER_SIZE, format_filename
from litestream_core.testing.ltxgen import timestamp_to_datetime

_Key = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _StoredFile:
    data: bytes
    info: LTXFileInfo


@dataclass
class MemoryStore:
    """The storage behind one or more MemoryReplicaClients."""

    files: dict[_Key, _StoredFile] = field(default_factory=dict)


class MemoryReplicaClient(ReplicaClient):
    """Keeps LTX files in a dict; see the module docstring for its guarantees."""

    type: ClassVar[str] = "memory"
    capabilities: frozenset[Capability] = frozenset(
        {
            Capability.ACCURATE_METADATA_TIMESTAMPS,
            Capability.RANGE_READS,
            Capability.CONDITIONAL_WRITES,
        }
    )

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self._state = "new"

    @classmethod
    def from_url(cls, url: ReplicaURL, options: Mapping[str, Any]) -> MemoryReplicaClient:
        """Every URL gets its own empty store; share a store by constructing directly."""
        return cls()

    async def init(self) -> None:
        if self._state == "closed":
            raise ReplicaClientError("memory replica client is closed", op="init")
        self._state = "open"

    async def close(self) -> None:
        self._state = "closed"

    def _check_open(self, op: str) -> None:
        if self._state != "open":
            hint = "call init() first" if self._state == "new" else "it was closed"
            raise ReplicaClientError(
                f"memory replica client used before init or after close ({op})",
                op=op,
                hint=hint,
            )

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        self._check_open("ltx_files")
        # Snapshot the matching entries first: writes during iteration must not break it.
        infos = sorted(
            (f.info for (lvl, lo, _), f in self.store.files.items() if lvl == level and lo >= seek),
            key=lambda info: (info.min_txid, info.max_txid),
        )
        for info in infos:
            yield info

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        self._check_open("open_ltx_file")
        stored = self.store.files.get((level, min_txid, max_txid))
        if stored is None:
            raise LTXNotFoundError(
                f"LTX file not found: level {level}, {format_filename(min_txid, max_txid)}",
                op="open",
                level=level,
                min_txid=min_txid,
                max_txid=max_txid,
            )
        end = len(stored.data) if size <= 0 else offset + size
        return BytesStream(stored.data[offset:end])

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """``SupportsExclusiveCreate``: one event loop, so check and store are atomic."""
        self._check_open("create_exclusive")
        if (level, min_txid, max_txid) in self.store.files:
            raise ObjectExistsError(
                f"level {level}, {format_filename(min_txid, max_txid)} exists", op="create"
            )
        await self.write_ltx_file(level, min_txid, max_txid, data)

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        self._check_open("write_ltx_file")
        if isinstance(data, bytes | bytearray | memoryview):
            content = bytes(data)
        else:
            # Collect everything before touching the store: a source that fails midway
            # (or a cancelled task) leaves the previous state untouched.
            content = b"".join([bytes(chunk) async for chunk in data])
        timestamp = upload_timestamp(content[:HEADER_SIZE])
        info = LTXFileInfo(
            level=level,
            min_txid=min_txid,
            max_txid=max_txid,
            size=len(content),
            created_at=timestamp_to_datetime(timestamp),
        )
        self.store.files[(level, min_txid, max_txid)] = _StoredFile(content, info)
        return info

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        self._check_open("delete_ltx_files")
        for info in files:
            self.store.files.pop((info.level, info.min_txid, info.max_txid), None)

    async def delete_all(self) -> None:
        self._check_open("delete_all")
        self.store.files.clear()
