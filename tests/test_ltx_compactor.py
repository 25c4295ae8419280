"""Compaction: newest page wins, pages past the final commit go, headers follow the format."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litestream_core.errors import ChecksumMismatchError, LTXError, LTXFormatError
from litestream_core.ltx import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    DatabaseChecksum,
    Header,
    compact,
    database_checksum,
    decode_file,
    encode_file,
    lock_pgno,
)

PAGE = 512


class Model:
    """A database as a dict of pages, producing the LTX files its transactions imply."""

    def __init__(self) -> None:
        self.pages: dict[int, bytes] = {}
        self.txid = 0
        self.written: list[set[int]] = []
        self.checksum = DatabaseChecksum()

    def commit(self, writes: dict[int, bytes], commit: int, timestamp: int) -> bytes:
        pre = self.checksum.value if self.txid else 0
        for pgno in [p for p in self.pages if p > commit]:
            self.checksum.remove(pgno, self.pages.pop(pgno))
        # SQLite writes every page it allocates, so growth appears as written zero pages.
        writes = dict(writes)
        for pgno in range(1, commit + 1):
            if pgno not in self.pages and pgno not in writes:
                writes[pgno] = bytes(PAGE)
        self.written.append(set(writes))
        for pgno, data in writes.items():
            if pgno in self.pages:
                self.checksum.remove(pgno, self.pages[pgno])
            self.pages[pgno] = data
            self.checksum.add(pgno, data)
        self.txid += 1
        snapshot = self.txid == 1
        header = Header(
            page_size=PAGE,
            commit=commit,
            min_txid=self.txid,
            max_txid=self.txid,
            timestamp=timestamp,
            pre_apply_checksum=pre,
        )
        if snapshot:
            frames = sorted(self.pages.items())
        else:
            frames = sorted((p, self.pages[p]) for p in writes if p <= commit)
        return encode_file(header, frames, self.checksum.value)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[dict[int, bytes], int]]:
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        commit = draw(st.integers(1, 12))
        pgnos = draw(st.sets(st.integers(1, commit), max_size=5))
        steps.append(({p: os.urandom(8) * (PAGE // 8) for p in pgnos}, commit))
    return steps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(0, 5))
def test_compaction_matches_model(history: list[tuple[dict[int, bytes], int]], start: int) -> None:
    model = Model()
    files = [model.commit(w, c, 1000 + i) for i, (w, c) in enumerate(history)]
    start = min(start, len(files) - 1)
    out = io.BytesIO()
    header = compact([io.BytesIO(f) for f in files[start:]], out)
    got_header, got_pages, trailer = decode_file(out.getvalue())
    assert got_header == header
    assert header.min_txid == start + 1 and header.max_txid == len(files)
    assert header.commit == history[-1][1]
    assert header.timestamp == 1000 + len(files) - 1
    assert header.wal_offset == header.wal_size == header.wal_salt1 == header.node_id == 0
    assert header.pre_apply_checksum == decode_file(files[start])[0].pre_apply_checksum
    assert trailer.post_apply_checksum == model.checksum.value
    if start == 0:
        assert got_pages == sorted(model.pages.items())
    else:
        touched = set().union(*model.written[start:])
        assert got_pages == sorted((p, model.pages[p]) for p in touched if p <= header.commit)


def test_newest_page_wins_and_truncated_pages_dropped() -> None:
    model = Model()
    a = model.commit({1: b"a" * PAGE, 2: b"b" * PAGE, 3: b"c" * PAGE}, 3, 10)
    b = model.commit({2: b"B" * PAGE, 3: b"C" * PAGE}, 3, 20)
    c = model.commit({2: b"X" * PAGE}, 2, 30)
    out = io.BytesIO()
    compact([io.BytesIO(x) for x in (a, b, c)], out)
    _, pages, trailer = decode_file(out.getvalue())
    assert pages == [(1, b"a" * PAGE), (2, b"X" * PAGE)]
    assert trailer.post_apply_checksum == database_checksum(pages)


def test_compacted_file_takes_the_last_inputs_timestamp() -> None:
    """A restore to time T must never apply a transaction committed after T."""
    model = Model()
    files = [model.commit({1: bytes([i]) * PAGE}, 1, 100 * (i + 1)) for i in range(3)]
    header = compact([io.BytesIO(f) for f in files], io.BytesIO())
    assert header.timestamp == 300


def test_no_checksum_inputs_give_no_checksum_output() -> None:
    page = b"p" * PAGE
    first = encode_file(
        Header(page_size=PAGE, commit=1, min_txid=1, max_txid=1, flags=HEADER_FLAG_NO_CHECKSUM),
        [(1, page)],
        0,
    )
    second = encode_file(
        Header(page_size=PAGE, commit=2, min_txid=2, max_txid=2, flags=HEADER_FLAG_NO_CHECKSUM),
        [(2, page)],
        0,
    )
    out = io.BytesIO()
    header = compact([io.BytesIO(first), io.BytesIO(second)], out)
    assert header.no_checksum and header.pre_apply_checksum == 0
    assert decode_file(out.getvalue())[1] == [(1, page), (2, page)]


def test_incremental_compaction_skips_lock_page_neighbourhood() -> None:
    lock = lock_pgno(PAGE)
    pre = CHECKSUM_FLAG | 5

    def inc(txid: int, pages: list[tuple[int, bytes]], pre: int, post: int) -> bytes:
        header = Header(
            page_size=PAGE, commit=lock + 3, min_txid=txid, max_txid=txid, pre_apply_checksum=pre
        )
        return encode_file(header, pages, post)

    a = inc(7, [(lock - 1, b"1" * PAGE), (lock + 1, b"2" * PAGE)], pre, CHECKSUM_FLAG | 6)
    b = inc(
        8, [(lock + 1, b"3" * PAGE), (lock + 2, b"4" * PAGE)], CHECKSUM_FLAG | 6, CHECKSUM_FLAG | 9
    )
    out = io.BytesIO()
    compact([io.BytesIO(a), io.BytesIO(b)], out)
    header, pages, trailer = decode_file(out.getvalue())
    assert [p for p, _ in pages] == [lock - 1, lock + 1, lock + 2]
    assert dict(pages)[lock + 1] == b"3" * PAGE
    assert (header.pre_apply_checksum, trailer.post_apply_checksum) == (pre, CHECKSUM_FLAG | 9)


def test_refuses_bad_chains() -> None:
    model = Model()
    a = model.commit({1: b"a" * PAGE}, 1, 1)
    b = model.commit({1: b"b" * PAGE}, 1, 2)
    c = model.commit({1: b"c" * PAGE}, 1, 3)
    with pytest.raises(LTXFormatError, match="not contiguous"):
        compact([io.BytesIO(a), io.BytesIO(c)], io.BytesIO())
    with pytest.raises(LTXFormatError, match="not contiguous"):
        compact([io.BytesIO(b), io.BytesIO(a)], io.BytesIO())
    with pytest.raises(LTXFormatError, match="at least one"):
        compact([], io.BytesIO())
    other = encode_file(
        Header(page_size=1024, commit=1, min_txid=2, max_txid=2, pre_apply_checksum=CHECKSUM_FLAG),
        [(1, bytes(1024))],
        CHECKSUM_FLAG | 1,
    )
    with pytest.raises(LTXFormatError, match="page size"):
        compact([io.BytesIO(a), io.BytesIO(other)], io.BytesIO())
    stranger = Model()
    stranger.commit({1: b"z" * PAGE}, 1, 1)
    foreign = stranger.commit({1: b"y" * PAGE}, 1, 2)
    with pytest.raises(ChecksumMismatchError, match="chain"):
        compact([io.BytesIO(a), io.BytesIO(foreign)], io.BytesIO())


def test_corrupt_input_fails_compaction() -> None:
    model = Model()
    a = bytearray(model.commit({1: b"a" * PAGE, 2: b"q" * PAGE}, 2, 1))
    b = model.commit({1: b"b" * PAGE}, 2, 2)
    a[-3] ^= 0x40
    with pytest.raises(LTXError):
        compact([io.BytesIO(bytes(a)), io.BytesIO(b)], io.BytesIO())
