"""SQLite's WAL frame checksum, computed in C.

``checksum(data, s0, s1, big_endian)`` continues the running checksum ``(s0, s1)`` over
``data`` (any buffer whose length is a multiple of 8) and returns the new pair. It is
the recurrence of SQLite's ``walChecksumBytes``; the caller decides which bytes of a
frame it covers.
"""

from litestream_wal_checksum._kernel import checksum

__all__ = ["checksum"]
