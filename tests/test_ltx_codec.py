"""Round trips, checksums, encoder rules and random access of the LTX codec."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litestream_core.errors import ChecksumMismatchError, LTXFormatError
from litestream_core.ltx import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    DatabaseChecksum,
    Decoder,
    Encoder,
    Header,
    checksum_database_file,
    crc64,
    database_checksum,
    decode_file,
    encode_file,
    lock_pgno,
    page_checksum,
    read_page,
    read_page_index,
    verify_file,
)
from litestream_core.ltx.page import next_snapshot_pgno

PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]


def _reference_crc64(data: bytes, crc: int = 0) -> int:
    """Bit-at-a-time Go hash/crc64 (ISO polynomial, reflected, complemented)."""
    crc ^= (1 << 64) - 1
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xD800000000000000 if crc & 1 else crc >> 1
    return crc ^ ((1 << 64) - 1)


@st.composite
def page_data(draw: st.DrawFn, page_size: int) -> bytes:
    """Pages that look like SQLite's: runs of repeated bytes mixed with random spans."""
    kind = draw(st.sampled_from(["zero", "random", "mixed"]))
    if kind == "zero":
        return bytes(page_size)
    if kind == "random":
        return draw(st.binary(min_size=page_size, max_size=page_size))
    head = draw(st.binary(max_size=min(page_size, 200)))
    fill = draw(st.integers(0, 255))
    return (head + bytes([fill]) * page_size)[:page_size]


@st.composite
def ltx_files(draw: st.DrawFn) -> tuple[Header, list[tuple[int, bytes]]]:
    page_size = draw(st.sampled_from(PAGE_SIZES[:5]))
    snapshot = draw(st.booleans())
    # Go's encoder cannot write an empty database without checksums; neither do we.
    no_checksum = draw(st.booleans())
    if snapshot:
        commit = draw(st.integers(1 if no_checksum else 0, 12))
        pgnos = list(range(1, commit + 1))
        min_txid = 1
    else:
        commit = draw(st.integers(1, 40))
        pgnos = sorted(draw(st.sets(st.integers(1, commit), min_size=0, max_size=12)))
        min_txid = draw(st.integers(2, 1 << 40))
    pages = [(p, draw(page_data(page_size))) for p in pgnos]
    header = Header(
        page_size=page_size,
        commit=commit,
        min_txid=min_txid,
        max_txid=min_txid + draw(st.integers(0, 1000)),
        timestamp=draw(st.integers(0, 1 << 45)),
        pre_apply_checksum=0
        if snapshot or no_checksum
        else CHECKSUM_FLAG | draw(st.integers(0, 2**63 - 1)),
        node_id=draw(st.integers(0, 2**64 - 1)),
        flags=HEADER_FLAG_NO_CHECKSUM if no_checksum else 0,
    )
    return header, pages


def _post_apply(header: Header, pages: list[tuple[int, bytes]]) -> int:
    if header.no_checksum:
        return 0
    if header.commit == 0:
        return CHECKSUM_FLAG
    return database_checksum(pages) if header.is_snapshot else CHECKSUM_FLAG | 12345


def test_crc64_matches_go_iso_definition() -> None:
    # The CRC catalogue's check value for CRC-64/GO-ISO over "123456789".
    assert crc64(b"123456789") == 0xB90956C775A41001
    data = os.urandom(3000)
    assert crc64(data) == _reference_crc64(data)
    assert crc64(data[1000:], crc64(data[:1000])) == crc64(data)


def test_page_and_database_checksums() -> None:
    page = os.urandom(4096)
    assert page_checksum(7, page) == CHECKSUM_FLAG | _reference_crc64((7).to_bytes(4, "big") + page)
    other = os.urandom(4096)
    total = database_checksum([(1, page), (2, other)])
    assert total == CHECKSUM_FLAG | (
        (page_checksum(1, page) ^ page_checksum(2, other)) & ~CHECKSUM_FLAG
    )
    running = DatabaseChecksum()
    running.add(1, page)
    running.add(2, page)
    running.remove(2, page)
    running.add(2, other)
    assert running.value == total
    assert database_checksum([]) == CHECKSUM_FLAG
    continued = DatabaseChecksum(total)
    continued.remove(2, other)
    continued.add(2, page)
    assert continued.value == database_checksum([(1, page), (2, page)])
    assert checksum_database_file(io.BytesIO(page + other), 4096) == total
    with pytest.raises(LTXFormatError, match="ends inside page 2"):
        checksum_database_file(io.BytesIO(page + other[:100]), 4096)


def test_database_checksum_skips_lock_page() -> None:
    for page_size in (512, 1024, 4096):
        lock = lock_pgno(page_size)
        page = os.urandom(page_size)
        near = [(lock - 1, page), (lock + 1, page)]
        assert database_checksum([*near, (lock, page)]) == database_checksum(near)
        assert database_checksum(near) != database_checksum([(lock - 1, page)])


def test_lock_page_numbers() -> None:
    assert lock_pgno(4096) == 262145
    assert lock_pgno(512) == 2097153
    assert lock_pgno(65536) == 16385
    lock = lock_pgno(4096)
    assert next_snapshot_pgno(lock - 2, lock) == lock - 1
    assert next_snapshot_pgno(lock - 1, lock) == lock + 1
    assert next_snapshot_pgno(lock + 1, lock) == lock + 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ltx_files())
def test_round_trip(file: tuple[Header, list[tuple[int, bytes]]]) -> None:
    header, pages = file
    post = _post_apply(header, pages)
    data = encode_file(header, pages, post)
    got_header, got_pages, trailer = decode_file(data)
    assert got_header == header
    assert got_pages == pages
    assert trailer.post_apply_checksum == post
    index = read_page_index(io.BytesIO(data))
    assert sorted(index) == [p for p, _ in pages]
    src = io.BytesIO(data)
    for pgno, page in pages:
        assert read_page(src, index[pgno], header.page_size, pgno) == page


@pytest.mark.parametrize("page_size", PAGE_SIZES)
def test_every_page_size_round_trips_and_decoder_exposes_index(page_size: int) -> None:
    pages = [(i, os.urandom(page_size // 2) + bytes(page_size // 2)) for i in range(1, 6)]
    header = Header(page_size=page_size, commit=5, min_txid=1, max_txid=3, timestamp=1)
    data = encode_file(header, pages, database_checksum(pages))
    dec = Decoder(io.BytesIO(data))
    assert list(dec.pages()) == pages
    assert dec.page_index == read_page_index(io.BytesIO(data))
    assert verify_file(io.BytesIO(data)) == (header, dec.trailer)


def test_incremental_pages_around_lock_page() -> None:
    lock = lock_pgno(512)
    header = Header(
        page_size=512, commit=lock + 5, min_txid=5, max_txid=5, pre_apply_checksum=CHECKSUM_FLAG | 1
    )
    pages = [(lock - 1, b"a" * 512), (lock + 1, b"b" * 512)]
    data = encode_file(header, pages, CHECKSUM_FLAG | 2)
    assert decode_file(data)[1] == pages
    enc = Encoder(io.BytesIO(), header)
    with pytest.raises(LTXFormatError, match="lock page"):
        enc.write_page(lock, b"c" * 512)


def _encoder(**fields: int) -> Encoder:
    base = {"page_size": 512, "commit": 4, "min_txid": 1, "max_txid": 1}
    return Encoder(io.BytesIO(), Header(**{**base, **fields}))


def test_encoder_refuses_what_go_would_reject() -> None:
    page = bytes(512)
    with pytest.raises(LTXFormatError, match="consecutive"):
        _encoder().write_page(2, page)
    enc = _encoder()
    enc.write_page(1, page)
    with pytest.raises(LTXFormatError, match="consecutive"):
        enc.write_page(3, page)
    with pytest.raises(LTXFormatError, match="incomplete"):
        enc.finish(database_checksum([(1, page)]))
    with pytest.raises(LTXFormatError, match="512"):
        _encoder().write_page(1, bytes(100))
    with pytest.raises(LTXFormatError, match="out of range"):
        _encoder(min_txid=2, max_txid=2, pre_apply_checksum=CHECKSUM_FLAG).write_page(5, page)
    inc = _encoder(min_txid=2, max_txid=2, pre_apply_checksum=CHECKSUM_FLAG)
    inc.write_page(3, page)
    with pytest.raises(LTXFormatError, match="out of order"):
        inc.write_page(3, page)
    with pytest.raises(LTXFormatError, match="pre-apply"):
        _encoder(min_txid=2, max_txid=2)
    with pytest.raises(LTXFormatError, match="page size"):
        _encoder(page_size=1000)


def test_encoder_checks_snapshot_post_apply_checksum() -> None:
    pages = [(1, b"x" * 512), (2, b"y" * 512)]
    header = Header(page_size=512, commit=2, min_txid=1, max_txid=1)
    with pytest.raises(ChecksumMismatchError):
        encode_file(header, pages, database_checksum(pages[:1]))
    with pytest.raises(LTXFormatError, match="post-apply"):
        encode_file(header, pages, 0)
    empty = Header(
        page_size=512, commit=0, min_txid=3, max_txid=3, pre_apply_checksum=CHECKSUM_FLAG | 9
    )
    with pytest.raises(LTXFormatError, match="empty"):
        encode_file(empty, [], CHECKSUM_FLAG | 5)
    assert decode_file(encode_file(empty, [], CHECKSUM_FLAG))[1] == []


def test_frames_use_lz4_blocks_with_size_flag() -> None:
    page = b"abc" * 1000 + bytes(1096)
    header = Header(page_size=4096, commit=1, min_txid=1, max_txid=1)
    data = encode_file(header, [(1, page)], database_checksum([(1, page)]))
    assert data[100:106] == b"\x00\x00\x00\x01\x00\x01"
    size = int.from_bytes(data[106:110], "big")
    assert size < len(page)
    import lz4.block

    assert lz4.block.decompress(data[110 : 110 + size], uncompressed_size=4096) == page
    assert data[110 + size : 116 + size] == bytes(6)
