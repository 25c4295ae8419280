"""The WAL reader: frames whose checksums a plain Python recurrence computed must verify."""

from __future__ import annotations

import os
import random
import sqlite3
import struct
from pathlib import Path

import pytest

from litestream_core.engine.wal import (
    FRAME_HEADER_SIZE,
    MAGIC_BE,
    MAGIC_LE,
    WAL_FORMAT_VERSION,
    WALHeader,
    frame_size,
    read_wal_header,
    scan_wal,
)


def reference_checksum(big_endian: bool, s0: int, s1: int, data: bytes) -> tuple[int, int]:
    """SQLite's walChecksumBytes, word pair by word pair."""
    words = struct.unpack(("!" if big_endian else "<") + f"{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def build_wal(
    page_size: int,
    frames: list[tuple[int, int, bytes]],
    *,
    big_endian: bool,
    salts: tuple[int, int] = (0x1234, 0xABCD),
) -> bytes:
    """A WAL written by the book: header, then (pgno, commit, page) frames."""
    head = struct.pack(
        ">IIIIII",
        MAGIC_BE if big_endian else MAGIC_LE,
        WAL_FORMAT_VERSION,
        page_size if page_size < 65536 else 1,
        0,
        *salts,
    )
    s = reference_checksum(big_endian, 0, 0, head)
    out = bytearray(head + struct.pack(">II", *s))
    for pgno, commit, page in frames:
        fh = struct.pack(">II", pgno, commit)
        s = reference_checksum(big_endian, *s, fh)
        s = reference_checksum(big_endian, *s, page)
        out += fh + struct.pack(">II", *salts) + struct.pack(">II", *s) + page
    return bytes(out)


def random_frames(page_size: int, n: int, seed: int) -> list[tuple[int, int, bytes]]:
    rnd = random.Random(seed)
    frames = []
    for i in range(n):
        commit = 50 if i % 3 == 2 else 0
        frames.append((rnd.randint(1, 50), commit, rnd.randbytes(page_size)))
    return frames


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("page_size", [512, 4096, 65536])
def test_every_page_size_and_byte_order_verifies(
    tmp_path: Path, page_size: int, big_endian: bool
) -> None:
    rnd = random.Random(page_size)
    # Pages 1..6 in one transaction: the last frame commits a 6-page database.
    frames = [(i, 6 if i == 6 else 0, rnd.randbytes(page_size)) for i in range(1, 7)]
    path = tmp_path / "db-wal"
    path.write_bytes(build_wal(page_size, frames, big_endian=big_endian))
    hdr = read_wal_header(path)
    assert hdr is not None and hdr.page_size == page_size and hdr.big_endian == big_endian
    with open(path, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum)
    assert scan.end == path.stat().st_size
    assert scan.commit == 6 and sorted(scan.pages) == [1, 2, 3, 4, 5, 6]
    assert struct.pack(">II", *scan.checksum) == path.read_bytes()[-page_size - 8 : -page_size]


@pytest.mark.parametrize("big_endian", [False, True])
def test_scan_takes_committed_frames_only(tmp_path: Path, big_endian: bool) -> None:
    page_size = 1024
    frames = random_frames(page_size, 8, seed=1)  # commits at frames 3 and 6; 7, 8 pending
    path = tmp_path / "db-wal"
    path.write_bytes(build_wal(page_size, frames, big_endian=big_endian))
    hdr = read_wal_header(path)
    assert hdr is not None
    with open(path, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum)
    fs = frame_size(page_size)
    assert scan.end == 32 + 6 * fs
    assert scan.commit == 50
    newest: dict[int, int] = {}
    for i, (pgno, _, _) in enumerate(frames[:6]):
        newest[pgno] = 32 + i * fs
    assert scan.pages == newest
    # Continuing from the end finds nothing new until a commit arrives.
    with open(path, "rb") as f:
        again = scan_wal(f, hdr, scan.end, scan.checksum)
    assert again.end == scan.end and again.pages == {}


def test_scan_stops_at_the_first_bad_frame(tmp_path: Path) -> None:
    page_size = 512
    frames = [(1, 0, b"a" * 512), (2, 2, b"b" * 512), (1, 2, b"c" * 512), (2, 2, b"d" * 512)]
    data = bytearray(build_wal(page_size, frames, big_endian=False))
    fs = frame_size(page_size)
    data[32 + 2 * fs + FRAME_HEADER_SIZE + 100] ^= 1  # corrupt frame 3's page
    path = tmp_path / "db-wal"
    path.write_bytes(bytes(data))
    hdr = read_wal_header(path)
    assert hdr is not None
    with open(path, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum)
    assert scan.end == 32 + 2 * fs  # frame 4 is valid alone but follows a bad frame


def test_scan_stops_at_other_salts(tmp_path: Path) -> None:
    page_size = 512
    old = build_wal(page_size, [(1, 1, b"x" * 512)] * 3, big_endian=False, salts=(1, 2))
    new = build_wal(page_size, [(1, 1, b"y" * 512)], big_endian=False, salts=(2, 9))
    path = tmp_path / "db-wal"
    path.write_bytes(new + old[len(new) :])  # a restarted WAL over an older generation
    hdr = read_wal_header(path)
    assert hdr is not None and hdr.salts == (2, 9)
    with open(path, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum)
    assert scan.end == 32 + frame_size(page_size)


def test_a_restarted_wal_is_not_read_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a checkpoint restarts the WAL, the new generation's few frames are
    followed by megabytes of the old one: a sync must not copy those every time."""
    page_size = 4096
    old = build_wal(page_size, [(1, 1, b"x" * page_size)] * 1000, big_endian=False, salts=(1, 2))
    new = build_wal(page_size, [(1, 1, b"y" * page_size)] * 2, big_endian=False, salts=(2, 9))
    path = tmp_path / "db-wal"
    path.write_bytes(new + old[len(new) :])
    hdr = read_wal_header(path)
    assert hdr is not None
    asked: list[int] = []
    pread = os.pread

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        asked.append(n)
        return pread(fd, n, offset)

    monkeypatch.setattr(os, "pread", counting_pread)
    with open(path, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum, stop=path.stat().st_size)
    assert scan.end == 32 + 2 * frame_size(page_size)
    assert len(path.read_bytes()) > 4_000_000
    assert sum(asked) <= 64 << 10  # one small read found the end of the generation
    # A long valid run is still read in growing chunks, to its end.
    asked.clear()
    path.write_bytes(old)
    hdr = read_wal_header(path)
    assert hdr is not None
    with open(path, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum, stop=len(old))
    assert scan.end == len(old)
    assert asked[:-1] == sorted(asked[:-1]) and len(asked) < 10


def test_scan_respects_stop(tmp_path: Path) -> None:
    page_size = 512
    path = tmp_path / "db-wal"
    path.write_bytes(build_wal(page_size, [(1, 1, b"z" * 512)] * 4, big_endian=False))
    hdr = read_wal_header(path)
    assert hdr is not None
    fs = frame_size(page_size)
    with open(path, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum, stop=32 + 2 * fs)
    assert scan.end == 32 + 2 * fs


def test_invalid_headers() -> None:
    good = build_wal(4096, [], big_endian=False)
    assert WALHeader.parse(good) is not None
    assert WALHeader.parse(good[:31]) is None
    assert WALHeader.parse(b"\x00" * 32) is None
    bad_checksum = bytearray(good)
    bad_checksum[31] ^= 1
    assert WALHeader.parse(bytes(bad_checksum)) is None
    bad_size = bytearray(good)
    bad_size[8:12] = struct.pack(">I", 3000)
    assert WALHeader.parse(bytes(bad_size)) is None


def test_real_sqlite_wal(tmp_path: Path) -> None:
    path = tmp_path / "real.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (v)")
    for _ in range(20):
        conn.execute("INSERT INTO t VALUES (randomblob(6000))")
    wal = Path(f"{path}-wal")
    hdr = read_wal_header(wal)
    assert hdr is not None
    with open(wal, "rb") as f:
        scan = scan_wal(f, hdr, 32, hdr.checksum)
    assert scan.end == os.path.getsize(wal)
    assert scan.commit == conn.execute("PRAGMA page_count").fetchone()[0]
    last = wal.read_bytes()[scan.end - frame_size(hdr.page_size) :][16:24]
    assert struct.pack(">II", *scan.checksum) == last
