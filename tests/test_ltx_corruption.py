"""The decoder must reject every malformed LTX file with an LTXError, never bad pages.

Structural cases are built with correct file checksums (``_raw_ltx``) so that the
check under test, not the checksum, is what catches them.
"""

from __future__ import annotations

import io
import os

import lz4.frame
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litestream_core.errors import ChecksumMismatchError, LTXError, LTXFormatError
from litestream_core.ltx import (
    CHECKSUM_FLAG,
    Decoder,
    Header,
    crc64,
    database_checksum,
    decode_file,
    encode_file,
    lock_pgno,
    read_page,
    read_page_index,
)
from litestream_core.ltx.index import INDEX_SIZE_FIELD, IndexBuilder
from litestream_core.ltx.page import PAGE_END, PAGE_HEADER, SIZE_FIELD, compress_page
from litestream_core.ltx.varint import decode_uvarint, encode_uvarint

PAGE = 1024


def _page(seed: int) -> bytes:
    return (bytes([seed]) * 300 + os.urandom(200)).ljust(PAGE, b"\x07")


PAGES = [(i, _page(i)) for i in range(1, 9)]
SNAPSHOT = Header(page_size=PAGE, commit=8, min_txid=1, max_txid=4, timestamp=1700000000000)
GOOD = encode_file(SNAPSHOT, PAGES, database_checksum(PAGES))


def _raw_ltx(
    header: Header,
    frames: list[tuple[int, bytes]],
    *,
    legacy: frozenset[int] = frozenset(),
    flags: int = 1,
    block: dict[int, bytes] | None = None,
    index: bytes | None = None,
    post: int | None = None,
) -> bytes:
    """Assemble an LTX file by hand, with a correct file checksum for whatever it holds."""
    out = bytearray(header.encode())
    crc = crc64(out)
    builder = IndexBuilder()
    for pgno, page in frames:
        start = len(out)
        if pgno in legacy:
            head, body = PAGE_HEADER.pack(pgno, 0), lz4.frame.compress(page)
        else:
            body = (block or {}).get(pgno) or compress_page(page)
            head = PAGE_HEADER.pack(pgno, flags) + SIZE_FIELD.pack(len(body))
        out += head + body
        crc = crc64(page, crc64(head, crc))
        builder.add(pgno, start, len(out) - start)
    tail = PAGE_END + (builder.encode() if index is None else index)
    post_value = database_checksum(frames) if post is None else post
    tail += post_value.to_bytes(8, "big")
    crc = crc64(tail, crc)
    return bytes(out + tail + (CHECKSUM_FLAG | crc).to_bytes(8, "big"))


def _incremental(commit: int = 20) -> Header:
    return Header(
        page_size=PAGE, commit=commit, min_txid=5, max_txid=5, pre_apply_checksum=CHECKSUM_FLAG | 3
    )


def test_raw_builder_matches_encoder() -> None:
    assert _raw_ltx(SNAPSHOT, PAGES) == GOOD


def test_legacy_lz4_frame_pages_are_readable() -> None:
    data = _raw_ltx(SNAPSHOT, PAGES, legacy=frozenset({2, 5, 8}))
    assert decode_file(data)[1] == PAGES
    index = read_page_index(io.BytesIO(data))
    assert read_page(io.BytesIO(data), index[5], PAGE, 5) == PAGES[4][1]
    with pytest.raises(LTXFormatError, match="points at page 5, expected 6"):
        read_page(io.BytesIO(data), index[5], PAGE, 6)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"LTX2" + GOOD[4:], "not an LTX file"),
        (GOOD[:60], "truncated in header"),
        (GOOD + b"\x00", "after the LTX trailer"),
        (
            _raw_ltx(_incremental(commit=lock_pgno(PAGE) + 1), [(lock_pgno(PAGE), PAGES[0][1])]),
            "lock page",
        ),
        (_raw_ltx(_incremental(), [(3, PAGES[0][1]), (2, PAGES[1][1])]), "out of order"),
        (_raw_ltx(_incremental(), [(3, PAGES[0][1]), (3, PAGES[1][1])]), "out of order"),
        (_raw_ltx(_incremental(commit=2), [(3, PAGES[0][1])]), "past the commit"),
        (_raw_ltx(SNAPSHOT, PAGES[:7]), "snapshot incomplete"),
        (_raw_ltx(SNAPSHOT, PAGES[:3] + PAGES[4:]), "skips from page 3 to 5"),
        (_raw_ltx(SNAPSHOT.with_(min_txid=2), PAGES, post=CHECKSUM_FLAG | 1), "pre-apply"),
        (_raw_ltx(SNAPSHOT, PAGES, flags=3), "invalid page flags"),
        (_raw_ltx(SNAPSHOT, PAGES, block={2: compress_page(b"x" * 100)}), "decompressed to 100"),
        (_raw_ltx(SNAPSHOT, PAGES, block={2: b"\xff" * 40}), "corrupt LZ4 block"),
        (_raw_ltx(SNAPSHOT, PAGES, block={2: b"\x00" * 5000}), "impossible compressed size"),
        (_raw_ltx(SNAPSHOT, PAGES, post=CHECKSUM_FLAG | 77), "post-apply checksum"),
        (_raw_ltx(SNAPSHOT, PAGES, post=0), "post-apply checksum missing"),
    ],
    ids=lambda v: v if isinstance(v, str) else "file",
)
def test_structural_errors(data: bytes, match: str) -> None:
    with pytest.raises(LTXError, match=match) as info:
        decode_file(data)
    assert "\n" not in str(info.value)


def _index_with(area: bytes) -> bytes:
    return area + INDEX_SIZE_FIELD.pack(len(area))


@pytest.mark.parametrize(
    ("index", "match"),
    [
        (_index_with(b"\x01" + b"\xff" * 10 + b"\x01\x00"), "overflows 64 bits"),
        (_index_with(b"\x01\x64\x05\x00"), "entry for page 1 is impossible"),
        (_index_with(b"\x01\x64\x09\x00"), "entry for page 1 does not match"),
        (_index_with(b"\x00"), "entry for page 1 does not match"),
        (_index_with(b"\x02\x64\x09\x00"), "entry for page 1 does not match"),
    ],
)
def test_bad_page_index(index: bytes, match: str) -> None:
    one = [(1, PAGES[0][1])]
    header = SNAPSHOT.with_(commit=1)
    with pytest.raises(LTXFormatError, match=match):
        decode_file(_raw_ltx(header, one, index=index))


def test_varint_decoding() -> None:
    for value in (0, 1, 127, 128, 300, 2**32 + 5, 2**64 - 1):
        encoded = encode_uvarint(value)
        assert decode_uvarint(encoded + b"\x05", 0, "x") == (value, len(encoded))
    with pytest.raises(LTXFormatError, match="truncated"):
        decode_uvarint(b"\x80\x80", 0, "x")
    with pytest.raises(LTXFormatError, match="overflows"):
        decode_uvarint(b"\xff" * 9 + b"\x02", 0, "x")


def test_wrong_index_size_field() -> None:
    one = [(1, PAGES[0][1])]
    good = _raw_ltx(SNAPSHOT.with_(commit=1), one)
    area_len = int.from_bytes(good[-24:-16], "big")
    bad_index = good[-24 - area_len : -24] + INDEX_SIZE_FIELD.pack(area_len + 1)
    with pytest.raises(LTXFormatError, match="size field"):
        decode_file(_raw_ltx(SNAPSHOT.with_(commit=1), one, index=bad_index))
    with pytest.raises(LTXFormatError, match="does not fit"):
        read_page_index(io.BytesIO(good[:-24] + INDEX_SIZE_FIELD.pack(10**9) + good[-16:]))


def test_flipped_file_checksum_and_header_are_checksum_errors() -> None:
    flipped = bytearray(GOOD)
    flipped[-1] ^= 0x01
    with pytest.raises(ChecksumMismatchError, match="file checksum mismatch"):
        decode_file(bytes(flipped))
    flipped = bytearray(GOOD)
    flipped[38] ^= 0x10  # timestamp (a low byte: the time stays a valid one)
    with pytest.raises(ChecksumMismatchError):
        decode_file(bytes(flipped))


def test_every_truncation_is_an_error() -> None:
    for cut in range(len(GOOD)):
        with pytest.raises(LTXFormatError):
            decode_file(GOOD[:cut])


def test_pages_iterator_raises_before_finishing() -> None:
    flipped = bytearray(GOOD)
    flipped[-20] ^= 0x01  # post-apply checksum in the trailer
    dec = Decoder(io.BytesIO(bytes(flipped)))
    it = dec.pages()
    for _ in range(len(PAGES)):
        next(it)
    with pytest.raises(LTXError):
        next(it)
    with pytest.raises(RuntimeError):
        _ = dec.trailer


LEGACY = _raw_ltx(SNAPSHOT, PAGES, legacy=frozenset({1, 4, 5}))


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([GOOD, LEGACY]),
    st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=4
    ),
    st.one_of(st.none(), st.floats(0, 1)),
)
def test_random_corruption_is_detected_or_harmless(
    original: bytes, flips: list[tuple[float, int]], cut: float | None
) -> None:
    data = bytearray(original)
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    if cut is not None:
        del data[int(cut * len(data)) :]
    try:
        header, pages, trailer = decode_file(bytes(data))
    except LTXError as exc:
        assert "\n" not in str(exc)
        return
    # Only a change that decodes to the very same file may pass.
    assert (header, pages) == (SNAPSHOT, PAGES)
    assert trailer.post_apply_checksum == database_checksum(PAGES)
