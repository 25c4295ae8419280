"""GCS replica settings and key layout, derived as Go Litestream derives them (no SDK).

Go's ``gs`` backend keeps files at ``path.Join(<path>, "ltx", <level>, <name>)``: the
level in decimal under an ``ltx/`` segment, unlike its S3 backend.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError
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


@dataclass(frozen=True, slots=True)
class GCSSettings:
    bucket: str
    path: str

    def level_dir(self, level: int) -> str:
        return go_join(self.path, "ltx", str(level))

    def key(self, level: int, min_txid: int, max_txid: int) -> str:
        return go_join(self.level_dir(level), format_filename(min_txid, max_txid))

    @property
    def delete_all_prefix(self) -> str:
        """Everything under the path, as Go deletes; only ``ltx/`` when there is no path.

        Go lists ``<path>/`` even for an empty path, which matches no key at all; a
        whole bucket is never ours to empty.
        """
        root = go_clean(self.path)
        return go_join(root, "ltx") + "/" if root in (".", "/") else root + "/"


def settings_from(url: ReplicaURL, options: Mapping[str, Any]) -> GCSSettings:
    bucket = str(options.get("bucket") or url.host)
    if not bucket:
        raise ConfigError("bucket required for gs replica")
    return GCSSettings(bucket=bucket, path=replica_path(url, options))
