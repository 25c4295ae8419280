"""Go's VFS SQL functions: ``litestream_txid()``, ``litestream_time()``,
``litestream_lag()`` and ``litestream_set_time(when)``.

``litestream_set_time`` takes RFC 3339, ``LATEST``, ``now``, ``yesterday`` or
``N <unit>s ago``; the new time applies from the next read transaction (the current one
keeps its snapshot, which is what a transaction promises).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import apsw

from litestream_core.errors import ConfigError, describe

if TYPE_CHECKING:
    from litestream_core.vfs.database import ReplicaDatabase
    from litestream_core.vfs.sqlite_vfs import _ReplicaFile
    from litestream_core.vfs.state import State

_RELATIVE = re.compile(r"^\s*(\d+)\s+(second|minute|hour|day|week)s?\s+ago\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}


def time_text(state: State) -> str:
    """The state's time (its newest file's header timestamp), RFC 3339 in UTC."""
    return state.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lag_seconds(db: ReplicaDatabase) -> int:
    """Whole seconds since the last successful poll; -1 if there was none (as Go)."""
    return -1 if db.last_poll is None else int(time.time() - db.last_poll)


def parse_when(text: str, now: datetime | None = None) -> datetime | None:
    """A time-travel target; None for ``LATEST`` (the newest state, followed)."""
    value = text.strip()
    now = now or datetime.now(UTC)
    lowered = value.lower()
    if lowered == "latest":
        return None
    if lowered == "now":
        return now
    if lowered == "yesterday":
        return now - timedelta(days=1)
    if match := _RELATIVE.match(value):
        return now - timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ConfigError(
            f"invalid time {text!r}: use RFC 3339 (2026-01-02T15:04:05Z), "
            "'N minutes ago' or 'LATEST'"
        )
    return parsed.astimezone(UTC)


def install(conn: apsw.Connection, name: str) -> None:
    """Add the functions to ``conn``, the connection of the replica file ``name``."""
    from litestream_core.vfs.sqlite_vfs import file_of

    def file() -> _ReplicaFile:
        found = file_of(name)
        if found is None:
            raise apsw.SQLError("the litestream replica of this connection is closed")
        return found

    def txid(*_: Any) -> str:
        return f"{file().state.txid:016x}"

    def when(*_: Any) -> str:
        return time_text(file().state)

    def lag(*_: Any) -> int:
        return lag_seconds(file().db)

    def set_time(*args: Any) -> str:
        try:
            state = file().db.set_time(parse_when(str(args[0])))
        except Exception as exc:
            raise apsw.SQLError(describe(exc)) from exc
        return f"{state.txid:016x}"

    conn.create_scalar_function("litestream_txid", txid, 0)
    conn.create_scalar_function("litestream_time", when, 0)
    conn.create_scalar_function("litestream_lag", lag, 0)
    conn.create_scalar_function("litestream_set_time", set_time, 1)
