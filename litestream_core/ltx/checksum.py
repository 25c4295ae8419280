"""CRC-64 checksums of pages, databases and whole LTX files.

Go's ``hash/crc64`` with the ISO table is the reference; ``fastcrc``'s ``go_iso`` is the
same algorithm in native code and continues a running value when passed as ``initial``,
which is what lets file checksums be computed page by page.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import BinaryIO

from fastcrc import crc64 as _fastcrc64

from litestream_core.errors import LTXFormatError
from litestream_core.ltx.header import CHECKSUM_FLAG, is_valid_page_size, lock_pgno

_PGNO = struct.Struct(">I")
_go_iso = _fastcrc64.go_iso


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/GO-ISO of ``data``, continuing from ``crc`` (the value of the bytes before)."""
    return int(_go_iso(data, initial=crc))


def page_checksum(pgno: int, data: bytes | bytearray | memoryview) -> int:
    """Checksum of one page: its big-endian page number then its bytes, flag bit set."""
    return CHECKSUM_FLAG | int(_go_iso(data, initial=_go_iso(_PGNO.pack(pgno))))


class DatabaseChecksum:
    """Running XOR of page checksums, so a database's checksum follows page writes.

    XOR makes the order irrelevant and lets a page's old version be removed before its
    new version is added. The lock page never counts (it is never stored in LTX files),
    recognised from the page size implied by ``len(data)``.
    """

    __slots__ = ("_acc",)

    def __init__(self, value: int = 0) -> None:
        self._acc = value & ~CHECKSUM_FLAG

    def add(self, pgno: int, data: bytes | bytearray | memoryview) -> None:
        if pgno != lock_pgno(len(data)):
            self._acc ^= page_checksum(pgno, data)

    remove = add  # XOR is its own inverse

    @property
    def value(self) -> int:
        return CHECKSUM_FLAG | (self._acc & ~CHECKSUM_FLAG)


def database_checksum(pages: Iterable[tuple[int, bytes | bytearray | memoryview]]) -> int:
    """Checksum of a database given as (page number, bytes) pairs."""
    acc = DatabaseChecksum()
    for pgno, data in pages:
        acc.add(pgno, data)
    return acc.value


def checksum_database_file(src: BinaryIO, page_size: int) -> int:
    """Checksum of a SQLite database file read from its start, page by page."""
    if not is_valid_page_size(page_size):
        raise LTXFormatError(f"invalid page size: {page_size}")
    acc = DatabaseChecksum()
    pgno = 0
    while True:
        data = src.read(page_size)
        if not data:
            return acc.value
        pgno += 1
        if len(data) != page_size:
            raise LTXFormatError(
                f"database file ends inside page {pgno} ({len(data)} of {page_size} bytes)"
            )
        acc.add(pgno, data)
