"""The VFS's page-index search agrees with a full decode of the index, for any index,
and tells whether a file holds every page of a range."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from litestream_core.ltx import lock_pgno
from litestream_core.ltx.index import IndexBuilder, scan_index
from litestream_core.vfs.pageindex import SMALL_AREA, PageIndex


def build(pages: list[int], sizes: list[int]) -> bytes:
    builder, offset = IndexBuilder(), 100
    for pgno, size in zip(pages, sizes, strict=True):
        builder.add(pgno, offset, size)
        offset += size
    return builder.encode()[:-8]  # the varint area, terminator included


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3000),
    st.integers(1, 3),
    st.sampled_from([300, 5000, 70_000]),
    st.integers(1, 1 << 20),
    st.randoms(use_true_random=False),
)
def test_every_page_is_found_and_no_other(count, max_step, max_size, first, rng):
    pages = [first]
    for _ in range(count - 1):
        pages.append(pages[-1] + rng.randint(1, max_step))
    area = build(pages, [rng.randint(7, max_size) for _ in pages])
    expected, _ = scan_index(area)
    index = PageIndex(area)
    probes = {*pages, *(p + 1 for p in pages), first - 1, pages[-1] + 5}
    for pgno in probes:
        frame = index.get(pgno)
        if pgno in expected:
            assert frame is not None and (frame.offset, frame.size) == tuple(expected[pgno])
        else:
            assert frame is None


def test_runs_of_following_frames_for_reading_ahead():
    pages = list(range(1, 20_001))
    area = build(pages, [1000 + p % 300 for p in pages])
    assert len(area) > SMALL_AREA  # the searched form, not the decoded one
    index = PageIndex(area)
    run = index.run(500, 8)
    assert [f.pgno for f in run] == list(range(500, 508))
    assert all(b.offset == a.offset + a.size for a, b in itertools.pairwise(run))
    assert [f.pgno for f in index.run(19_998, 8)] == [19_998, 19_999, 20_000]
    assert index.run(20_001, 8) == []


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 3000),
    st.sampled_from([1, 1, 2]),
    st.sampled_from([4096, 512]),
    st.randoms(use_true_random=False),
)
def test_holds_says_whether_every_page_of_a_range_is_there(count, max_step, page_size, rng):
    """What the VFS's chain check asks of a file: all pages from ``first`` to ``last``,
    the lock page aside (never in a file), in the decoded and the searched form."""
    lock = lock_pgno(page_size)
    pages: list[int] = []
    pgno = rng.randint(lock - 5, lock) if page_size == 512 else 1
    while len(pages) < count:
        if pgno != lock:
            pages.append(pgno)
        pgno += rng.randint(1, max_step)
    index = PageIndex(build(pages, [rng.randint(7, 300) for _ in pages]))
    present = set(pages)
    for _ in range(20):
        first = rng.randint(max(1, pages[0] - 3), pages[-1] + 3)
        last = rng.randint(first - 1, min(first + 200, pages[-1] + 3))
        wanted = {p for p in range(first, last + 1) if p != lock}
        assert index.holds(first, last, page_size) == (wanted <= present)
