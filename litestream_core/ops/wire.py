"""Go Litestream's control-socket wire format: JSON bodies, times, paths.

Both sides use these, so our commands read Go's daemon and Go's commands read ours.
Go's ``encoding/json`` writes compact JSON and a newline, and times as RFC 3339 with
nanoseconds and trailing zeros trimmed; its commands print durations with
``time.Duration.String``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

DEFAULT_SOCKET_PATH = "/var/run/litestream.sock"


def encode(body: Any) -> bytes:
    """A response body as Go's ``json.Encoder`` writes it."""
    return (json.dumps(body, separators=(",", ":")) + "\n").encode()


def go_time(moment: datetime) -> str:
    """RFC 3339 with the fraction Go prints (up to nanoseconds, no trailing zeros), UTC."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(text: str) -> datetime:
    """A time from either side (Go sends nine fraction digits and its local offset)."""
    return datetime.fromisoformat(text)


def rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339`` layout: whole seconds, the time's own offset (``Z`` for UTC)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    offset = moment.utcoffset()
    if offset is None or not offset:
        return text + "Z"
    return text + moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]


def go_duration(seconds: int) -> str:
    """Whole seconds as Go's ``Duration.String`` prints them: ``0s``, ``1m5s``, ``2h0m3s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def expand_path(path: str) -> str:
    """A database path as Go's daemon resolves one: no ``sqlite://`` prefix, ``~``
    expanded, absolute and clean (relative paths are the daemon's, not the caller's)."""
    for prefix in ("sqlite3://", "sqlite://"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    if path == "~" or path.startswith("~/"):
        path = os.path.expanduser(path)
    return os.path.abspath(path)
