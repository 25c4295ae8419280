"""The decoder reads its source a buffer at a time (``decoder._CHUNK``): frames cut by a
buffer's end, sources that return short reads, legacy frames among sized ones, and a
corrupted page in any buffer must all come out exactly as from one whole read."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litestream_core.errors import ChecksumMismatchError, LTXFormatError
from litestream_core.ltx import Decoder, Header, database_checksum, read_page_index
from litestream_core.ltx import decoder as decoder_mod
from litestream_core.ltx.page import compress_page

sys.path.insert(0, str(Path(__file__).parent))
from test_ltx_corruption import _raw_ltx

PAGE = 1024
PAGES = [
    (i, (bytes([i]) * 200 + os.urandom(100 + 20 * i)).ljust(PAGE, b"\x00")) for i in range(1, 25)
]
SNAPSHOT = Header(page_size=PAGE, commit=len(PAGES), min_txid=1, max_txid=3, timestamp=1)


class ShortReads(io.RawIOBase):
    """A source that returns at most ``step`` bytes per read, as a socket or pipe may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._step if n < 0 else min(n, self._step)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


def _decode(data: bytes, chunk: int, step: int) -> tuple[list[tuple[int, bytes]], int]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decoder_mod, "_CHUNK", chunk)
        dec = Decoder(ShortReads(data, step))  # type: ignore[arg-type]
        pages = list(dec.pages())
        return pages, dec.trailer.file_checksum


@settings(max_examples=60, deadline=None)
@given(
    chunk=st.integers(1, 3000),
    step=st.integers(1, 4000),
    legacy=st.frozensets(st.integers(1, len(PAGES))),
)
def test_any_buffer_size_and_short_reads_give_the_same_pages(chunk, step, legacy) -> None:
    data = _raw_ltx(SNAPSHOT, PAGES, legacy=legacy)
    pages, file_checksum = _decode(data, chunk, step)
    assert pages == PAGES
    whole = Decoder(io.BytesIO(data))
    assert list(whole.pages()) == PAGES
    assert file_checksum == whole.trailer.file_checksum
    assert whole.page_index == read_page_index(io.BytesIO(data))


@pytest.mark.parametrize("chunk", [64, 700, 1 << 20])
def test_a_page_that_decompresses_to_other_bytes_is_caught_in_any_buffer(chunk) -> None:
    """Each page in turn holds a valid block of other bytes (LZ4 cannot object), while the
    file checksum is of the true pages: only the checksum over every page catches it."""
    for pgno, _ in PAGES:
        wrong = {pgno: compress_page(PAGES[(pgno % len(PAGES))][1])}
        data = _raw_ltx(SNAPSHOT, PAGES, block=wrong)
        with pytest.raises(ChecksumMismatchError, match="file checksum mismatch"):
            _decode(data, chunk, 1 << 20)


@pytest.mark.parametrize("chunk", [64, 700, 1 << 20])
def test_a_flipped_byte_anywhere_in_the_pages_is_rejected(chunk) -> None:
    data = _raw_ltx(SNAPSHOT, PAGES, post=database_checksum(PAGES))
    index = read_page_index(io.BytesIO(data))
    for elem in index.values():
        for at in (elem.offset + 3, elem.offset + elem.size // 2, elem.offset + elem.size - 1):
            bad = bytearray(data)
            bad[at] ^= 0x40
            with pytest.raises((ChecksumMismatchError, LTXFormatError)):
                _decode(bytes(bad), chunk, 1 << 20)


@pytest.mark.parametrize("chunk", [5, 64, 1 << 20])
def test_a_file_cut_anywhere_in_its_frames_is_truncated(chunk) -> None:
    header = Header(page_size=PAGE, commit=4, min_txid=1, max_txid=3, timestamp=1)
    data = _raw_ltx(header, PAGES[:4], legacy=frozenset({2}))
    frames_end = max(e.offset + e.size for e in read_page_index(io.BytesIO(data)).values())
    for cut in range(100, frames_end + 6):
        with pytest.raises(LTXFormatError, match="truncated"):
            _decode(data[:cut], chunk, 1 << 20)
