"""The LTX header time: read from the start of a file, and as object metadata.

A backend keeps each file's LTX header timestamp as its time (metadata, mtime), so
point-in-time restore can list times without reading files. It reads the time from
the first bytes it is given: an LTX header, or a sealed (encrypted) file's first
stanza, which carries the time in clear (``docs/encryption.md``). Use
``upload_timestamp`` and ``stored_timestamp`` rather than decoding the LTX header, so
encrypted replicas work on the backend.

As metadata: Go writes ``time.Format(time.RFC3339Nano)`` of a millisecond UTC time and
parses it back with the same layout, so both tools must agree on this text for either to read the
other's point-in-time metadata. Each backend keeps its own metadata key (Go
names it ``MetadataKeyTimestamp`` per client); the text is the same everywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from litestream_core.encryption.layout import is_sealed, sealed_timestamp
from litestream_core.errors import LTXFormatError
from litestream_core.ltx.header import HEADER_SIZE, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, Header

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)


def ms_to_datetime(timestamp_ms: int) -> datetime:
    """An LTX header timestamp as an aware UTC datetime, without float rounding.

    A time no datetime can hold (a damaged header read before its checksum is checked)
    is an LTXFormatError, which listings answer by falling back to the storage's time.
    """
    if not MIN_TIMESTAMP_MS <= timestamp_ms <= MAX_TIMESTAMP_MS:
        raise LTXFormatError(f"LTX header timestamp out of range: {timestamp_ms}")
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


def upload_timestamp(first: bytes) -> int:
    """The LTX timestamp (ms) of data about to be written, from its first bytes (at
    least ``HEADER_SIZE`` of them): a validated LTX header, or a sealed file's time.

    Raises LTXFormatError for anything else, before anything is stored.
    """
    if is_sealed(first):
        timestamp = sealed_timestamp(first)
        if timestamp is None:
            raise LTXFormatError("encrypted data without the replica layout's time stanza")
        return timestamp
    if len(first) < HEADER_SIZE:
        raise LTXFormatError(
            f"LTX data too short for a header: {len(first)} of {HEADER_SIZE} bytes"
        )
    header = Header.decode(first[:HEADER_SIZE])
    header.validate()
    return header.timestamp


def stored_timestamp(head: bytes) -> int | None:
    """The LTX timestamp at the start of a stored file (its first ``HEADER_SIZE``
    bytes), LTX or sealed; None if it is neither (a file copied in by hand) or the
    time is one no file is written at (a damaged header: callers use the storage's
    time, and the file's checksum fails it when it is read)."""
    if is_sealed(head):
        timestamp = sealed_timestamp(head)
    else:
        try:
            timestamp = Header.decode(head[:HEADER_SIZE]).timestamp
        except LTXFormatError:
            return None
    if timestamp is None or not MIN_TIMESTAMP_MS <= timestamp <= MAX_TIMESTAMP_MS:
        return None
    return timestamp
