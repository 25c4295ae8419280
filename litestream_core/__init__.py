"""Litestream for Python: disaster recovery for SQLite.

The public API lives here; anything whose name starts with ``_`` is private.
"""

from __future__ import annotations

from litestream_core.client import (
    SNAPSHOT_LEVEL,
    TXID,
    AsyncByteStream,
    BytesStream,
    Capability,
    LTXFileInfo,
    ReplicaClient,
    ReplicaURL,
)
from litestream_core.hookspecs import hookimpl

__all__ = [
    "SNAPSHOT_LEVEL",
    "TXID",
    "AsyncByteStream",
    "BytesStream",
    "Capability",
    "LTXFileInfo",
    "ReplicaClient",
    "ReplicaURL",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("litestream-core")
    raise AttributeError(name)
