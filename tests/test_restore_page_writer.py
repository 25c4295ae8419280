"""Restore's threaded page writes (engine/page_writer.py) and its memory bound: runs land
in order, writeback starts as it goes, any error of the threads reaches the restore, a
corrupt page in a large file still fails it with nothing left behind, and peak memory
does not grow with the database."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import random
import time
import tracemalloc
from pathlib import Path

import pytest

from litestream_core.engine import page_writer
from litestream_core.engine import restore as restore_mod
from litestream_core.engine.page_writer import PageWriter
from litestream_core.engine.restore import restore
from litestream_core.errors import ChecksumMismatchError
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Encoder, Header
from litestream_core.ltx.page import compress_page
from litestream_core.plugins import get_plugin_manager, make_replica_client

PAGE = 4096


def test_runs_are_written_in_order_and_synced_as_they_go(tmp_path, monkeypatch) -> None:
    syncs = []
    real = page_writer._fdatasync
    monkeypatch.setattr(page_writer, "_fdatasync", lambda fd: (syncs.append(fd), real(fd)))
    fd = os.open(tmp_path / "db", os.O_RDWR | os.O_CREAT)
    try:
        writer = PageWriter(fd, depth=2, sync_every=64 * PAGE)
        pages = [bytes([i]) * PAGE for i in range(64)]
        for first in range(0, 64, 4):  # the same offsets twice: the later run must win
            writer.write([bytes(PAGE)] * 4, first * PAGE)
            writer.write(pages[first : first + 4], first * PAGE)
        writer.drain()
        writer.close()
    finally:
        os.close(fd)
    assert (tmp_path / "db").read_bytes() == b"".join(pages)
    assert syncs, "no writeback was started before the end"


def test_a_write_error_reaches_the_restoring_thread(tmp_path) -> None:
    path = tmp_path / "db"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # every pwritev fails (EBADF)
    try:
        writer = PageWriter(fd, depth=1)
        with pytest.raises(OSError) as info:
            for i in range(20):  # never blocks: after the error the queue is only emptied
                writer.write([bytes(PAGE)], i * PAGE)
            writer.drain()
        assert info.value.errno == errno.EBADF
        writer.close()
        writer.close()
    finally:
        os.close(fd)


def test_a_failed_early_sync_is_not_lost(tmp_path, monkeypatch) -> None:
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(page_writer, "_fdatasync", failing)
    fd = os.open(tmp_path / "db", os.O_RDWR | os.O_CREAT)
    try:
        writer = PageWriter(fd, sync_every=PAGE)
        writer.write([bytes(PAGE)] * 2, 0)  # past sync_every: the syncer is woken
        deadline = time.monotonic() + 30
        with pytest.raises(OSError, match="Input/output"):
            while time.monotonic() < deadline:  # the syncer runs beside us
                writer.drain()
                time.sleep(0.01)
        writer.close()
    finally:
        os.close(fd)


def _snapshot_replica(replica: Path, pages: int, seed: int, bad: int | None = None) -> str:
    """A file replica holding one snapshot of ``pages`` 4 KiB pages (each 1 KiB random,
    then zeros, about 1 KiB compressed: large enough for threaded writes); returns the
    database's SHA-256. ``bad``: that page's frame holds another page's bytes, while the
    file checksum is of the true page."""
    rng = random.Random(seed)
    level0 = replica / "ltx" / "0"
    level0.mkdir(parents=True)
    header = Header(page_size=PAGE, commit=pages, min_txid=1, max_txid=1, timestamp=1,
                    flags=HEADER_FLAG_NO_CHECKSUM)  # fmt: skip
    digest = hashlib.sha256()
    with open(level0 / "0000000000000001-0000000000000001.ltx", "wb") as out:
        enc = Encoder(out, header)
        for pgno in range(1, pages + 1):
            page = rng.randbytes(1024).ljust(PAGE, b"\x00")
            digest.update(page)
            if pgno == bad:
                _write_swapped_page(enc, pgno, page)
            else:
                enc.write_page(pgno, page)
        enc.finish(0)
    return digest.hexdigest()


def _write_swapped_page(enc: Encoder, pgno: int, page: bytes) -> None:
    """Write ``page``'s frame with a block that decompresses to other bytes."""
    import litestream_core.ltx.encoder as encoder_mod

    other = bytes(reversed(page))
    original = encoder_mod.compress_page
    encoder_mod.compress_page = lambda data, codec=None: compress_page(other, codec)  # type: ignore[assignment]
    try:
        enc.write_page(pgno, page)
    finally:
        encoder_mod.compress_page = original


def _client(replica: Path):
    return make_replica_client(f"file://{replica}", pm=get_plugin_manager(only={"file"}))


def _peak_restoring(tmp_path: Path, pages: int) -> int:
    replica = tmp_path / f"replica-{pages}"
    expected = _snapshot_replica(replica, pages, seed=pages)
    out = tmp_path / f"out-{pages}.db"
    tracemalloc.start()
    try:
        asyncio.run(restore(_client(replica), out))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == expected
    out.unlink()
    return peak


def test_peak_memory_does_not_grow_with_the_database(tmp_path, monkeypatch) -> None:
    """A 64 MiB database takes no more than an 8 MiB one, give or take the writer's queue
    and a few bytes per page (the LTX index, the page coverage map)."""
    used = []
    real = restore_mod.PageWriter
    monkeypatch.setattr(restore_mod, "PageWriter", lambda fd: used.append(fd) or real(fd))
    small, large = 2048, 16384
    small_peak = _peak_restoring(tmp_path, small)
    large_peak = _peak_restoring(tmp_path, large)
    assert len(used) == 2, "the large files were not written by the writer's threads"
    allowance = 6 * 2**20 + (large - small) * 16
    assert large_peak - small_peak < allowance, (small_peak, large_peak)
    assert large_peak < large * PAGE / 4


def test_a_corrupt_page_in_a_large_file_fails_and_leaves_nothing(tmp_path) -> None:
    replica = tmp_path / "replica"
    _snapshot_replica(replica, 2048, seed=1, bad=1500)
    out = tmp_path / "out" / "db"
    out.parent.mkdir()
    with pytest.raises(ChecksumMismatchError, match="file checksum mismatch"):
        asyncio.run(restore(_client(replica), out))
    assert list(out.parent.iterdir()) == []
