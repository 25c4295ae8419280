"""What every topic class of the suite shares: configuration, fixtures and helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import cache
from typing import ClassVar

import pytest

from litestream_core.client import Capability, LTXFileInfo, ReplicaClient
from litestream_core.ltx.header import Header
from litestream_core.testing.ltxgen import make_ltx_bytes, timestamp_to_datetime

PLAUSIBLE_CLOCK_SKEW = timedelta(minutes=10)
"""How far a storage clock may be from ours for a storage time to count as plausible."""


class SuiteBase:
    """Configuration a backend's subclass sets, and the one fixture it must supply."""

    pytestmark = pytest.mark.anyio

    capabilities: ClassVar[frozenset[Capability] | set[Capability]] = frozenset()
    """Capabilities to check, in addition to those the plugin declares when it registers
    ``schemes`` and those the client itself carries."""
    plugin_name: ClassVar[str | None] = None
    """Entry-point name in ``litestream.plugins``; None skips the plugin-contract tests."""
    schemes: ClassVar[tuple[str, ...]] = ()
    """URL schemes the plugin registers, exactly."""
    heavy_modules: ClassVar[tuple[str, ...]] = ()
    """Modules (SDKs) that importing the plugin's entry point must not import."""
    large_file_size: ClassVar[int] = 3 * 8 * 1024 * 1024 + 1
    """Size of the large-file tests' files: one byte past three 8 MiB parts (and past S3's
    5 MiB and Azure's 4 MiB blocks). Lower it only for a server that cannot hold it."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    async def replica_client(self) -> AsyncIterator[ReplicaClient]:
        pytest.fail(
            f"{type(self).__name__} must define an async `replica_client` fixture yielding "
            "an initialised client on a unique, empty prefix"
        )
        yield  # pragma: no cover - unreachable, makes this an async generator

    def declares(self, client: ReplicaClient, capability: Capability) -> bool:
        """A capability counts if the suite subclass, the plugin's registration (read by
        the core's own loader) or the client instance claims it."""
        return (
            capability in self.capabilities
            or capability in client.capabilities
            or capability in registered_capabilities(self.plugin_name, self.schemes)
        )


@cache
def registered_capabilities(plugin: str | None, schemes: tuple[str, ...]) -> frozenset[Capability]:
    """What ``plugin`` declares for ``schemes`` when the core loads it."""
    if plugin is None or not schemes:
        return frozenset()
    from litestream_core.plugins import get_plugin_manager, replica_client_registry

    registry = replica_client_registry(get_plugin_manager(only={plugin}))
    found: set[Capability] = set()
    for scheme in schemes:
        spec = registry.get(scheme)
        if spec is not None and spec.plugin == plugin and spec.capabilities:
            found |= spec.capabilities
    return frozenset(found)


def ltx(min_txid: int, max_txid: int, *, pages: int = 2, timestamp_ms: int | None = None) -> bytes:
    """A test file whose bytes differ with its TXIDs, so mix-ups show up on read."""
    stamp = timestamp_ms if timestamp_ms is not None else 1_600_000_000_000 + min_txid * 1_001
    return make_ltx_bytes(
        min_txid, max_txid, pages=pages, timestamp_ms=stamp, seed=min_txid * 7919 + max_txid
    )


def file_ref(level: int, min_txid: int, max_txid: int) -> LTXFileInfo:
    """What ``delete_ltx_files`` needs of a file: its level and TXIDs."""
    return LTXFileInfo(level, min_txid, max_txid, size=0, created_at=timestamp_to_datetime(0))


def header_time(data: bytes) -> datetime:
    """The creation time an LTX file's header records."""
    return timestamp_to_datetime(Header.decode(data).timestamp)


async def listed(
    client: ReplicaClient, level: int, *, seek: int = 0, use_metadata: bool = False
) -> list[LTXFileInfo]:
    return [info async for info in client.ltx_files(level, seek=seek, use_metadata=use_metadata)]


async def read(client: ReplicaClient, level: int, min_txid: int, max_txid: int, **kw: int) -> bytes:
    stream = await client.open_ltx_file(level, min_txid, max_txid, **kw)
    async with stream:
        return await stream.readall()


def keys(infos: list[LTXFileInfo]) -> list[tuple[int, int, int]]:
    return [(i.level, i.min_txid, i.max_txid) for i in infos]


def broken(promise: str, seen: object) -> str:
    """An assertion message: the contract's promise that failed, and what was seen."""
    return f"broken promise: {promise}\n  seen: {seen}"


def byte_difference(got: bytes, expected: bytes, *, whole: bytes | None = None) -> str:
    """How ``got`` differs from ``expected``, without dumping megabytes of bytes.

    With ``whole`` (the file ``expected`` was cut from), says where in the file the bytes
    that were returned actually come from: a read that ignored its offset shows up as
    bytes from offset 0.
    """
    if got == expected:
        return "the expected bytes"
    first = next(
        (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
        min(len(got), len(expected)),
    )
    text = f"{len(got)} bytes where {len(expected)} were expected, first difference at byte {first}"
    if len(got) < len(expected) and got == expected[: len(got)]:
        text = f"only the first {len(got)} of {len(expected)} bytes (the stream ended early)"
    if whole is not None and got:
        probe = got[:64]
        found = whole.find(probe)
        if found >= 0 and whole[found : found + len(got)] == got:
            text += f"; the bytes returned are the file's bytes from offset {found}"
    return text


def assert_plausible_time(created_at: datetime, data: bytes, written_at: datetime) -> None:
    """Without accurate metadata, a time is either the header's or the storage's clock."""
    assert created_at.utcoffset() is not None, f"created_at {created_at!r} has no time zone"
    if created_at == header_time(data):
        return
    lo, hi = written_at - PLAUSIBLE_CLOCK_SKEW, datetime.now(written_at.tzinfo)
    assert lo <= created_at <= hi + PLAUSIBLE_CLOCK_SKEW, (
        f"created_at {created_at} is neither the header time {header_time(data)} "
        f"nor near the time of writing {written_at}"
    )
