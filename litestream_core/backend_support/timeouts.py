"""The ``timeout`` replica key: every network backend's deadline on storage progress.

A storage call must never wait silently for ever; the SDKs' own defaults range from a
minute to a day. Each backend turns this one key into its SDK's connect and read
timeouts, which bound the wait for the *next* bytes, not the whole transfer: a large
upload that keeps moving is never cut off, a connection that stops answering is given
up after ``timeout`` seconds and retried. Each backend keeps its default beside its
other settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestream_core.config import parse_duration
from litestream_core.errors import ConfigError


def timeout_option(options: Mapping[str, Any], scheme: str, default: float) -> float:
    """Seconds from the replica's ``timeout`` key (``30s``, ``500ms``), else ``default``."""
    value = options.get("timeout")
    if value is None or value == "":
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = parse_duration(value, where=f"{scheme} timeout")
    if not seconds > 0:
        raise ConfigError(f"{scheme}: timeout must be greater than zero, not {value!r}")
    return seconds
