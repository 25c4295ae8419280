"""LTX header and trailer: the fixed-size frames at both ends of every LTX file.

Field order and widths are fixed by format version 3 (big-endian). A header that
validates here is one Go Litestream also accepts, so the checks mirror the format's
rules rather than our own preferences.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, replace
from typing import Any

from litestream_core.errors import LTXFormatError

MAGIC = b"LTX1"
VERSION = 3
HEADER_SIZE = 100
PAGE_HEADER_SIZE = 6
TRAILER_SIZE = 16
CHECKSUM_FLAG = 1 << 63
HEADER_FLAG_NO_CHECKSUM = 1 << 1
HEADER_FLAG_PAGE_CODEC = 1 << 16
"""Ours, not Go's: pages are compressed with the codec named in the reserved bytes
instead of LZ4. Go's decoder refuses any flag it does not know ("invalid flags"), so
such a file is rejected by Go rather than misread."""
HEADER_FLAG_MASK = HEADER_FLAG_NO_CHECKSUM | HEADER_FLAG_PAGE_CODEC
CODEC_NAME_SIZE = 20
"""The header's reserved bytes, where a non-LZ4 page codec's name is written."""
PAGE_FLAG_SIZE = 1 << 0
MAX_PAGE_SIZE = 65536

MIN_TIMESTAMP_MS = -62_135_596_800_000
"""0001-01-01T00:00:00Z in milliseconds since the Unix epoch (datetime.min)."""
MAX_TIMESTAMP_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z (datetime.max, to the millisecond)."""

# magic, flags, page size, commit, min, max, timestamp, pre-apply, wal offset,
# wal size, salt1, salt2, node id, then 20 reserved bytes (zero, or a codec name).
_HEADER = struct.Struct(">4sIIIQQqQqqIIQ20s")
_CODEC_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,19}")
_TRAILER = struct.Struct(">QQ")


def is_valid_page_size(size: int) -> bool:
    """SQLite page sizes are powers of two from 512 to 65536."""
    return 512 <= size <= MAX_PAGE_SIZE and size & (size - 1) == 0


def lock_pgno(page_size: int) -> int:
    """The page holding byte 0x40000000 (SQLite's PENDING_BYTE); never stored in LTX."""
    return 0x40000000 // page_size + 1


@dataclass(frozen=True, slots=True)
class Header:
    """The 100-byte header that opens an LTX file."""

    page_size: int
    commit: int
    min_txid: int
    max_txid: int
    timestamp: int = 0
    """Milliseconds since the Unix epoch; point-in-time restore keys on it."""
    pre_apply_checksum: int = 0
    wal_offset: int = 0
    wal_size: int = 0
    wal_salt1: int = 0
    wal_salt2: int = 0
    node_id: int = 0
    flags: int = 0
    codec: str = ""
    """The page codec's name when it is not LZ4 (Go's only one); set together with
    ``HEADER_FLAG_PAGE_CODEC``."""

    @property
    def is_snapshot(self) -> bool:
        """A file that starts at TXID 1 carries every page of the database."""
        return self.min_txid == 1

    @property
    def no_checksum(self) -> bool:
        return bool(self.flags & HEADER_FLAG_NO_CHECKSUM)

    @property
    def lock_pgno(self) -> int:
        return lock_pgno(self.page_size)

    @property
    def page_codec(self) -> str:
        """The name of the codec the pages are compressed with."""
        return self.codec or "lz4"

    def with_(self, **changes: Any) -> Header:
        return replace(self, **changes)

    def with_codec(self, name: str) -> Header:
        """This header for pages compressed with codec ``name`` (``lz4``: Go's format)."""
        if name == "lz4":
            return replace(self, codec="", flags=self.flags & ~HEADER_FLAG_PAGE_CODEC)
        return replace(self, codec=name, flags=self.flags | HEADER_FLAG_PAGE_CODEC)

    def validate(self) -> None:
        """Raise LTXFormatError unless the header obeys the format's rules."""
        if self.flags & ~HEADER_FLAG_MASK:
            raise LTXFormatError(f"invalid LTX header flags: 0x{self.flags:08x}")
        if bool(self.flags & HEADER_FLAG_PAGE_CODEC) != bool(self.codec):
            raise LTXFormatError("LTX page codec flag and codec name disagree")
        if self.codec and (self.codec == "lz4" or not _CODEC_NAME.fullmatch(self.codec)):
            raise LTXFormatError(f"invalid LTX page codec name {self.codec!r}")
        if not is_valid_page_size(self.page_size):
            raise LTXFormatError(f"invalid LTX page size: {self.page_size}")
        if self.min_txid == 0 or self.max_txid == 0:
            raise LTXFormatError("LTX header has a zero transaction id")
        if self.min_txid > self.max_txid:
            raise LTXFormatError(
                f"LTX transaction ids out of order: {self.min_txid:016x} > {self.max_txid:016x}"
            )
        if not MIN_TIMESTAMP_MS <= self.timestamp <= MAX_TIMESTAMP_MS:
            # Go would take any int64, but no file is written outside years 1-9999, and
            # Python's datetime cannot hold such a time (a point-in-time restore would crash).
            raise LTXFormatError(f"LTX header timestamp out of range: {self.timestamp}")
        if self.wal_offset < 0 or self.wal_size < 0:
            raise LTXFormatError("LTX WAL offset and size cannot be negative")
        if (self.wal_salt1 or self.wal_salt2) and self.wal_offset == 0:
            raise LTXFormatError("LTX header has WAL salts but no WAL offset")
        if self.wal_offset == 0 and self.wal_size != 0:
            raise LTXFormatError("LTX header has a WAL size but no WAL offset")
        if self.is_snapshot or self.no_checksum:
            if self.pre_apply_checksum != 0:
                kind = "snapshot" if self.is_snapshot else "file without checksums"
                raise LTXFormatError(f"LTX {kind} must have a zero pre-apply checksum")
        elif self.pre_apply_checksum & CHECKSUM_FLAG == 0:
            raise LTXFormatError("LTX file needs a pre-apply checksum with the flag bit set")

    def encode(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            self.flags,
            self.page_size,
            self.commit,
            self.min_txid,
            self.max_txid,
            self.timestamp,
            self.pre_apply_checksum,
            self.wal_offset,
            self.wal_size,
            self.wal_salt1,
            self.wal_salt2,
            self.node_id,
            self.codec.encode("ascii"),
        )

    @classmethod
    def decode(cls, data: bytes) -> Header:
        """Parse (without validating) a header; bad magic or short input is an error."""
        if len(data) < HEADER_SIZE:
            raise LTXFormatError(f"LTX header truncated: {len(data)} of {HEADER_SIZE} bytes")
        fields = _HEADER.unpack_from(data)
        if fields[0] != MAGIC:
            if data.startswith(b"age-encryption.org/"):
                raise LTXFormatError(
                    "not an LTX file: it is encrypted with age",
                    hint="the replica is encrypted: give it `age: {identities: [...]}` in "
                    "the config to read it",
                )
            raise LTXFormatError(f"not an LTX file (magic {fields[0]!r})")
        (_, flags, page_size, commit, min_txid, max_txid, ts, pre, off, size, s1, s2, node, rsv) = (
            fields
        )
        codec = ""
        if flags & HEADER_FLAG_PAGE_CODEC:
            codec = rsv.rstrip(b"\0").decode("ascii", errors="replace")
        return cls(
            page_size=page_size,
            commit=commit,
            min_txid=min_txid,
            max_txid=max_txid,
            timestamp=ts,
            pre_apply_checksum=pre,
            wal_offset=off,
            wal_size=size,
            wal_salt1=s1,
            wal_salt2=s2,
            node_id=node,
            flags=flags,
            codec=codec,
        )


@dataclass(frozen=True, slots=True)
class Trailer:
    """The 16 bytes that close an LTX file."""

    post_apply_checksum: int
    file_checksum: int

    def encode(self) -> bytes:
        return _TRAILER.pack(self.post_apply_checksum, self.file_checksum)

    @classmethod
    def decode(cls, data: bytes) -> Trailer:
        if len(data) < TRAILER_SIZE:
            raise LTXFormatError(f"LTX trailer truncated: {len(data)} of {TRAILER_SIZE} bytes")
        post, file_sum = _TRAILER.unpack_from(data)
        return cls(post, file_sum)

    def validate(self, header: Header) -> None:
        if header.no_checksum:
            if self.post_apply_checksum != 0:
                raise LTXFormatError("LTX post-apply checksum not allowed with no-checksum flag")
        elif self.post_apply_checksum & CHECKSUM_FLAG == 0:
            raise LTXFormatError("LTX post-apply checksum missing or without the flag bit")
        if self.file_checksum & CHECKSUM_FLAG == 0:
            raise LTXFormatError("LTX file checksum missing or without the flag bit")


def format_filename(min_txid: int, max_txid: int) -> str:
    """Go's `%016x-%016x.ltx`: lower-case hex, so names sort by TXID."""
    return f"{min_txid:016x}-{max_txid:016x}.ltx"


def parse_filename(name: str) -> tuple[int, int]:
    """Inverse of format_filename; raises ValueError for any other name."""
    if len(name) != 37 or not name.endswith(".ltx") or name[16] != "-":
        raise ValueError(f"not an LTX file name: {name!r}")
    lo, hi = name[:16], name[17:33]
    if not all(c in "0123456789abcdef" for c in lo + hi):
        raise ValueError(f"not an LTX file name: {name!r}")
    return int(lo, 16), int(hi, 16)
