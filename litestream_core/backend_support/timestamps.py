"""The LTX header time as object metadata, in the exact text Go Litestream uses.

Go writes ``time.Format(time.RFC3339Nano)`` of a millisecond UTC time and parses it back
with the same layout, so both tools must agree on this text for either to read the
other's point-in-time metadata. Each backend keeps its own metadata key (Go
names it ``MetadataKeyTimestamp`` per client); the text is the same everywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)


def ms_to_datetime(timestamp_ms: int) -> datetime:
    """An LTX header timestamp as an aware UTC datetime, without float rounding."""
    return _EPOCH + timedelta(milliseconds=timestamp_ms)


def format_timestamp(timestamp_ms: int) -> str:
    """Go's RFC3339Nano text: trailing zeros of the fraction dropped, no fraction if zero."""
    t = ms_to_datetime(timestamp_ms)
    frac = f".{timestamp_ms % 1000:03d}".rstrip("0").rstrip(".")
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}{frac}Z"
    )


def parse_timestamp(text: str) -> datetime | None:
    """The UTC time in an RFC 3339 text, or None where Go's parser would also fail."""
    m = _RFC3339.fullmatch(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    micros = int((frac or "0").ljust(6, "0")[:6])
    try:
        t = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, UTC
        )
    except ValueError:
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        t -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return t
