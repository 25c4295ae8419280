"""Counting every replica operation at the core's boundary, whatever the backend.

Go counts GET, PUT, DELETE and LIST inside each of its backends, so a backend that
forgets (its file backend counts nothing) is invisible on a dashboard. Here the core
wraps each client it builds for replication in ``InstrumentedClient``, which counts
the calls of the ``ReplicaClient`` contract into an ``OperationStats``: a third-party
backend is counted without a line of its own.

Counted as Go counts: one LIST per listing, one GET per opened file (bytes as they
are read), one PUT per written file (its stored size), one DELETE per deleted file.
Durations go to the histogram: a listing's is the time spent waiting for the
backend, not for the code consuming it; a GET's is the time to open the stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from litestream_core.client import (
    AsyncByteStream,
    LTXData,
    LTXFileInfo,
    ReplicaClient,
    SupportsTempCleanup,
)
from litestream_core.engine.stats import OperationStats
from litestream_core.errors import (
    LTXNotFoundError,
    ReplicaPermissionError,
    TransientReplicaError,
)


def error_code(exc: BaseException) -> str:
    """The ``code`` label of a failed operation: what kind of failure, not its text
    (which names files, and would make a series per file)."""
    if isinstance(exc, LTXNotFoundError):
        return "NotFound"
    if isinstance(exc, ReplicaPermissionError):
        return "AccessDenied"
    if isinstance(exc, TransientReplicaError | TimeoutError):
        return "Unavailable"
    return type(exc).__name__


class InstrumentedClient(ReplicaClient):
    """``inner`` with each operation counted in ``stats`` under ``inner.type``."""

    type: ClassVar[str] = "instrumented"

    def __init__(self, inner: ReplicaClient, stats: OperationStats) -> None:
        self.inner = inner
        self.stats = stats
        # The replica's name and abilities are the backend's (``ltx`` shows the type).
        setattr(self, "type", inner.type)  # noqa: B010 - a ClassVar in the contract
        setattr(self, "capabilities", inner.capabilities)  # noqa: B010

    def __repr__(self) -> str:
        return repr(self.inner)

    def __getattr__(self, name: str) -> Any:
        """Anything beyond the contract (a backend's own attributes) is the backend's."""
        if name == "inner":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _record(self, op: str, start: float, exc: BaseException | None = None, **kw: int) -> None:
        self.stats.record(
            self.inner.type, op, seconds=time.monotonic() - start,
            error=None if exc is None else error_code(exc), **kw,
        )  # fmt: skip

    async def init(self) -> None:
        await self.inner.init()

    async def close(self) -> None:
        await self.inner.close()

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        waited = 0.0
        failed: BaseException | None = None
        it = aiter(self.inner.ltx_files(level, seek=seek, use_metadata=use_metadata))
        try:
            while True:
                start = time.monotonic()
                try:
                    info = await anext(it)
                except StopAsyncIteration:
                    break
                finally:
                    waited += time.monotonic() - start
                yield info
        except Exception as exc:
            failed = exc
            raise
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()
            error = None if failed is None else error_code(failed)
            self.stats.record(self.inner.type, "LIST", seconds=waited, error=error)

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        start = time.monotonic()
        try:
            stream = await self.inner.open_ltx_file(
                level, min_txid, max_txid, offset=offset, size=size
            )
        except Exception as exc:
            self._record("GET", start, exc)
            raise
        self._record("GET", start)
        return _CountedStream(stream, self.stats, self.inner.type)

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        start = time.monotonic()
        try:
            info = await self.inner.write_ltx_file(level, min_txid, max_txid, data)
        except Exception as exc:
            self._record("PUT", start, exc)
            raise
        self._record("PUT", start, size=info.size)
        return info

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        start = time.monotonic()
        try:
            await self.inner.delete_ltx_files(files)
        except Exception as exc:
            self._record("DELETE", start, exc, count=len(files))
            raise
        self._record("DELETE", start, count=len(files))

    async def delete_all(self) -> None:
        start = time.monotonic()
        try:
            await self.inner.delete_all()
        except Exception as exc:
            self._record("DELETE", start, exc)
            raise
        self._record("DELETE", start)

    # -- optional abilities, forwarded so the engine still finds them -------------------

    async def remove_stale_temp_files(self) -> int:
        """The backend's sweep (``SupportsTempCleanup``), or nothing if it has none."""
        if isinstance(self.inner, SupportsTempCleanup):
            return await self.inner.remove_stale_temp_files()
        return 0

    def write_ltx_file_now(
        self, level: int, min_txid: int, max_txid: int, data: bytes
    ) -> LTXFileInfo:
        """The backend's blocking write (``DirectWriter``, from a worker thread; only
        for ``LOCAL_FILESYSTEM`` backends, which the engine checks first), counted as
        a PUT like ``write_ltx_file``."""
        start = time.monotonic()
        try:
            info: LTXFileInfo = self.inner.write_ltx_file_now(  # type: ignore[attr-defined]
                level, min_txid, max_txid, data
            )
        except Exception as exc:
            self._record("PUT", start, exc)
            raise
        self._record("PUT", start, size=info.size)
        return info

    def file_path(self, level: int, min_txid: int, max_txid: int) -> Path:
        """The backend's local path of a file (only for ``LOCAL_FILESYSTEM`` backends,
        which the engine checks first)."""
        path: Path = self.inner.file_path(level, min_txid, max_txid)  # type: ignore[attr-defined]
        return path


class _CountedStream(AsyncByteStream):
    """A download whose bytes are added to GET's as they are read."""

    def __init__(self, inner: AsyncByteStream, stats: OperationStats, replica_type: str) -> None:
        self._inner = inner
        self._stats = stats
        self._type = replica_type

    async def read(self, n: int = -1) -> bytes:
        chunk = await self._inner.read(n)
        if chunk:
            self._stats.add_bytes(self._type, "GET", len(chunk))
        return chunk

    async def aclose(self) -> None:
        await self._inner.aclose()
