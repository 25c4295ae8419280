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
