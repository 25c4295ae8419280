"""Test kit for backend authors and engine tests, shipped with litestream-core.

Names are imported on first use: pytest loads this package (through the ``litestream``
pytest plugin) in every run where litestream-core is installed, so importing it must
cost nothing.

- ``ReplicaClientSuite``: the conformance suite to subclass (needs pytest and anyio,
  from the ``litestream-core[testing]`` extra).
- ``MemoryReplicaClient`` / ``MemoryStore``: the in-memory reference client.
- ``make_ltx_bytes``: valid LTX files made to order.

Modules to import directly: ``servers`` (free ports, waiting for a server to answer),
``e2e`` (an app, a config, ``litestream replicate`` and restores for CLI tests),
``fault_proxy`` (a TCP proxy that stalls, drops, resets, refuses or slows a link) and
``peer`` (the Go binary). The pytest plugin adds the ``go_litestream`` and ``go_env``
fixtures, ``replica_prefix`` and ``ltx_factory``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestream_core.client import Capability
    from litestream_core.testing.ltxgen import make_ltx_bytes, timestamp_to_datetime
    from litestream_core.testing.memory import MemoryReplicaClient, MemoryStore
    from litestream_core.testing.suite import ReplicaClientSuite

_EXPORTS = {
    "Capability": "litestream_core.client",
    "MemoryReplicaClient": "litestream_core.testing.memory",
    "MemoryStore": "litestream_core.testing.memory",
    "ReplicaClientSuite": "litestream_core.testing.suite",
    "make_ltx_bytes": "litestream_core.testing.ltxgen",
    "timestamp_to_datetime": "litestream_core.testing.ltxgen",
}

__all__ = [
    "Capability",
    "MemoryReplicaClient",
    "MemoryStore",
    "ReplicaClientSuite",
    "make_ltx_bytes",
    "timestamp_to_datetime",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
