"""The C kernel against SQLite's recurrence written out in Python, word pair by pair."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestream_wal_checksum import checksum

MASK = 0xFFFFFFFF


def recurrence(data: bytes, s0: int, s1: int, big_endian: bool) -> tuple[int, int]:
    words = struct.unpack((">" if big_endian else "<") + f"{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & MASK
        s1 = (s1 + words[i + 1] + s0) & MASK
    return s0, s1


words = st.integers(0, MASK)
blocks = st.binary(max_size=4096).map(lambda b: b[: len(b) // 8 * 8])


@given(blocks, words, words, st.booleans())
def test_matches_the_recurrence(data: bytes, s0: int, s1: int, big_endian: bool) -> None:
    assert checksum(data, s0, s1, big_endian) == recurrence(data, s0, s1, big_endian)


@given(blocks, st.integers(0, 512), st.booleans())
def test_continuing_from_a_split_is_the_whole(data: bytes, cut: int, big_endian: bool) -> None:
    cut = min(cut * 8, len(data))
    head = checksum(data[:cut], 0, 0, big_endian)
    assert checksum(memoryview(data)[cut:], *head, big_endian) == checksum(data, 0, 0, big_endian)


def test_large_buffers_match() -> None:
    """Large enough that the kernel releases the GIL while it sums."""
    data = bytes(range(256)) * 1024
    assert checksum(bytearray(data), 7, 9, False) == recurrence(data, 7, 9, False)


def test_rejects_a_partial_word_pair() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        checksum(b"\x00" * 12, 0, 0, False)


def test_rejects_state_wider_than_32_bits() -> None:
    with pytest.raises(ValueError, match="32 bits"):
        checksum(b"", 1 << 32, 0, False)
    with pytest.raises(OverflowError):
        checksum(b"", -1, 0, False)
