"""Go's path rules for object keys, and the key layout Go's gs and abs clients share.

Go builds keys with ``path.Join`` and ``path.Clean``, whose results differ from
``posixpath`` at the edges (an empty path, a doubled root); a replica written by one
tool is only found by the other when every key comes out byte for byte the same.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from litestream_core.client import ReplicaURL
from litestream_core.ltx.header import format_filename


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: like ``posixpath.normpath`` but ``""`` is ``"."``, one root."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def go_join(*parts: str) -> str:
    """Go's ``path.Join``: empty parts dropped, the result cleaned."""
    joined = "/".join(p for p in parts if p)
    return go_clean(joined) if joined else ""


def replica_path(url: ReplicaURL, options: Mapping[str, Any]) -> str:
    """Go uses a config ``path`` verbatim and a URL's path cleaned, without its root.

    The core passes a config path as a URL path without a leading slash, which is how
    the two are told apart here.
    """
    if "path" in options:
        return str(options["path"] or "")
    if url.path and not url.path.startswith("/"):
        return url.path
    return go_clean(url.path).removeprefix("/")


class LTXKeys:
    """Keys ``<path>/ltx/<level>/<min>-<max>.ltx``, as Go's gs and abs clients lay them
    out; mixed into a settings class that has a ``path``."""

    __slots__ = ()
    path: str

    def level_dir(self, level: int) -> str:
        return go_join(self.path, "ltx", str(level))

    def key(self, level: int, min_txid: int, max_txid: int) -> str:
        return go_join(self.level_dir(level), format_filename(min_txid, max_txid))

    @property
    def delete_all_prefix(self) -> str:
        """Everything under the path, as Go deletes; only ``ltx/`` when there is no path.

        For an empty path Go lists a prefix that matches none of its keys; a whole
        bucket is never ours to empty.
        """
        root = go_clean(self.path)
        return go_join(root, "ltx") + "/" if root in (".", "/") else root + "/"
