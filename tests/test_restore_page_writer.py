"""Restore's page writes (engine/page_writer.py) and its memory bound: runs land in
order, writeback starts as it goes, an early sync's error fails the restore, a corrupt
page in a large file still fails it with nothing left behind, and peak memory does not
grow with the database."""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import os
import random
import threading
import tracemalloc
from pathlib import Path

import pytest

from litestream_core.engine import page_writer
from litestream_core.engine import restore as restore_mod
from litestream_core.engine.page_writer import PageWriter
from litestream_core.engine.restore import restore
from litestream_core.errors import ChecksumMismatchError, RestoreError
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
        writer = PageWriter(fd, "db", sync_every=16 * PAGE)
        pages = [bytes([i]) * PAGE for i in range(64)]
        for first in range(0, 64, 4):  # the same offsets twice: the later run must win
            writer.write([bytes(PAGE)] * 4, first * PAGE)
            writer.write(pages[first : first + 4], first * PAGE)
        writer.close()  # after the syncs asked for
        writer.close()
        writer.raise_error()
    finally:
        os.close(fd)
    assert (tmp_path / "db").read_bytes() == b"".join(pages)
    assert syncs, "no writeback was started before the end"


def test_a_write_error_names_the_database_not_the_replica(tmp_path) -> None:
    path = tmp_path / "db"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # pwritev fails (EBADF), as on a full disk
    try:
        with pytest.raises(RestoreError, match="write db: Bad file descriptor"):
            PageWriter(fd, "db").write([bytes(PAGE)], 0)
    finally:
        os.close(fd)


def test_small_restores_start_no_thread(tmp_path) -> None:
    fd = os.open(tmp_path / "db", os.O_RDWR | os.O_CREAT)
    try:
        writer = PageWriter(fd, "db", sync_every=64 * PAGE)
        before = threading.active_count()
        writer.write([bytes(PAGE)] * 63, 0)
        assert threading.active_count() == before
        writer.close()
    finally:
        os.close(fd)


def test_a_failed_early_sync_fails_the_restore(tmp_path, monkeypatch) -> None:
    """Its error is not lost: the final fsync might not report it again."""

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(page_writer, "_fdatasync", failing)
    replica = tmp_path / "replica"
    _snapshot_replica(replica, 2048, seed=3)
    small = functools.partial(PageWriter, sync_every=PAGE)
    monkeypatch.setattr(restore_mod, "PageWriter", small)
    out = tmp_path / "out" / "db"
    out.parent.mkdir()
    with pytest.raises(RestoreError, match=r"write restored database .*: Input/output error"):
        asyncio.run(restore(_client(replica), out))
    assert list(out.parent.iterdir()) == []


def _snapshot_replica(replica: Path, pages: int, seed: int, bad: int | None = None) -> str:
    """A file replica holding one snapshot of ``pages`` 4 KiB pages (each 1 KiB random,
    then zeros, about 1 KiB compressed, so larger files are streamed); returns the
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


def test_peak_memory_does_not_grow_with_the_database(tmp_path) -> None:
    """A 64 MiB database takes no more than an 8 MiB one, give or take a few bytes per
    page (the LTX index, the page coverage map)."""
    small, large = 2048, 16384
    small_peak = _peak_restoring(tmp_path, small)
    large_peak = _peak_restoring(tmp_path, large)
    assert large_peak - small_peak < 2 * 2**20 + (large - small) * 16, (small_peak, large_peak)
    assert large_peak < large * PAGE / 8


def test_a_corrupt_page_in_a_large_file_fails_and_leaves_nothing(tmp_path) -> None:
    replica = tmp_path / "replica"
    _snapshot_replica(replica, 2048, seed=1, bad=1500)
    out = tmp_path / "out" / "db"
    out.parent.mkdir()
    with pytest.raises(ChecksumMismatchError, match="file checksum mismatch"):
        asyncio.run(restore(_client(replica), out))
    assert list(out.parent.iterdir()) == []
