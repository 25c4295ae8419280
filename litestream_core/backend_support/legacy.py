"""Keys of Go Litestream 0.3's ``generations/`` layout, for backends that read it.

Go 0.3 built every key with ``path.Join(<path>, "generations", ...)`` on every backend,
so one rule maps the core's relative paths to keys and back.
"""

from __future__ import annotations

from litestream_core.backend_support.paths import go_join
from litestream_core.errors import ReplicaClientError

LEGACY_DIR = "generations"


def legacy_prefix(root: str) -> str:
    """The key prefix of everything Go 0.3 wrote under ``root``."""
    return go_join(root, LEGACY_DIR) + "/"


def legacy_relative(prefix: str, key: str) -> str:
    """A listed key as the path the core names it by (``generations/...``)."""
    return f"{LEGACY_DIR}/{key[len(prefix) :]}"


def legacy_key(root: str, path: str) -> str:
    """The key of a path from ``legacy_relative``; nothing outside ``generations/``."""
    parts = path.split("/")
    if parts[0] != LEGACY_DIR or any(p in ("", ".", "..") for p in parts):
        raise ReplicaClientError(f"not a v0.3 file path: {path!r}", op="open")
    return go_join(root, path)
