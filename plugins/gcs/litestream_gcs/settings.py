"""GCS replica settings and key layout, derived as Go Litestream derives them (no SDK).

Go's ``gs`` backend keeps files at ``path.Join(<path>, "ltx", <level>, <name>)``: the
level in decimal under an ``ltx/`` segment, unlike its S3 backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestream_core.backend_support.paths import LTXKeys, replica_path
from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError

DEFAULT_TIMEOUT = 30.0
"""The ``timeout`` key's default: seconds to connect, and to wait for each next piece
of a response (the SDK's own default is 60)."""


@dataclass(frozen=True, slots=True)
class GCSSettings(LTXKeys):
    bucket: str
    path: str
    timeout: float = DEFAULT_TIMEOUT


def settings_from(url: ReplicaURL, options: Mapping[str, Any]) -> GCSSettings:
    bucket = str(options.get("bucket") or url.host)
    if not bucket:
        raise ConfigError("bucket required for gs replica")
    return GCSSettings(
        bucket=bucket,
        path=replica_path(url, options),
        timeout=timeout_option(options, "gs", DEFAULT_TIMEOUT),
    )
