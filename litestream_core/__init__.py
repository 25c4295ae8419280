"""Litestream for Python: disaster recovery for SQLite.

The public API lives here; anything whose name starts with ``_`` is private.

The names below are imported on first use: every ``litestream`` command and every
plugin imports this package first, and ``litestream version`` should not pay for
the replica-client contract it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from litestream_core._version import __version__

if TYPE_CHECKING:
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

_LAZY = {
    **dict.fromkeys(
        ("SNAPSHOT_LEVEL", "TXID", "AsyncByteStream", "BytesStream", "Capability",
         "LTXFileInfo", "ReplicaClient", "ReplicaURL"),
        "litestream_core.client",
    ),
    "hookimpl": "litestream_core.hookspecs",
}  # fmt: skip

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


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
