"""Interop with the real Go Litestream 0.5.17: it reads our LTX files, we read its files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from litestream_core.ltx import (
    HEADER_FLAG_NO_CHECKSUM,
    Decoder,
    Encoder,
    Header,
    checksum_database_file,
    database_checksum,
    format_filename,
    parse_filename,
)

ROWS_PER_MB = 1024  # rows of 1 KiB (half random, half compressible)


def _make_db(path: Path, page_size: int, megabytes: int) -> None:
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    con.executemany(
        "INSERT INTO t (body) VALUES (?)",
        ((os.urandom(512) + bytes(512),) for _ in range(megabytes * ROWS_PER_MB)),
    )
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _db_pages(path: Path, page_size: int) -> dict[int, bytes]:
    data = path.read_bytes()
    return {i // page_size + 1: data[i : i + page_size] for i in range(0, len(data), page_size)}


def _ltx_files(replica: Path, level: int) -> list[Path]:
    folder = replica / "ltx" / str(level)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(".ltx"))


def _wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _decode(path: Path) -> tuple[Header, dict[int, bytes], int]:
    with path.open("rb") as f:
        dec = Decoder(f)
        pages = dict(dec.pages())
        return dec.header, pages, dec.trailer.post_apply_checksum


def test_we_decode_everything_go_replicates(
    tmp_path: Path, go_litestream: Path, go_env: dict[str, str]
) -> None:
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    _make_db(db, 4096, 6)
    proc = subprocess.Popen(
        [str(go_litestream), "replicate", str(db), f"file://{replica}"],
        env=go_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: _ltx_files(replica, 9), 60, "Go's snapshot")
        before = len(_ltx_files(replica, 0))
        con = sqlite3.connect(db)
        for i in range(3):
            con.execute("UPDATE t SET body = ? WHERE id % 7 = ?", (os.urandom(300), i))
            con.execute("INSERT INTO t (body) VALUES (?)", (os.urandom(5000),))
            con.commit()
            time.sleep(0.4)
        con.close()
        _wait_for(lambda: len(_ltx_files(replica, 0)) > before, 30, "Go's incremental files")
        time.sleep(2.5)  # let it pick up the last transactions
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]

    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()

    all_files = [p for level in range(10) for p in _ltx_files(replica, level)]
    assert all_files
    for path in all_files:  # every file verifies, including compacted levels
        header, _, _ = _decode(path)
        assert (header.min_txid, header.max_txid) == parse_filename(path.name)

    # Replay level 0 in TXID order; the state at the snapshot's TXID must be the
    # snapshot, and the final state must be the database file.
    snap_header, snap_pages, snap_post = _decode(_ltx_files(replica, 9)[-1])
    assert snap_header.no_checksum and snap_post == 0  # Go 0.5.17 writes no checksums
    state: dict[int, bytes] = {}
    matched_snapshot = False
    for path in _ltx_files(replica, 0):
        header, pages, _ = _decode(path)
        if header.is_snapshot:
            state = {}
        state.update(pages)
        state = {p: d for p, d in state.items() if p <= header.commit}
        if header.max_txid == snap_header.max_txid:
            assert state == snap_pages
            matched_snapshot = True
    assert matched_snapshot
    assert state == _db_pages(db, 4096)
    with db.open("rb") as f:
        assert database_checksum(state.items()) == checksum_database_file(f, 4096)


def _write_replica(tmp_path: Path, page_size: int, flags: int, megabytes: int) -> tuple[Path, Path]:
    """A snapshot and an incremental file of a changed database, in Go's file layout."""
    db, replica = tmp_path / "src.db", tmp_path / "replica"
    _make_db(db, page_size, megabytes)
    old = _db_pages(db, page_size)
    level0 = replica / "ltx" / "0"
    level0.mkdir(parents=True)
    checksums = not flags
    now_ms = int(time.time() * 1000)

    snapshot = Header(
        page_size=page_size,
        commit=len(old),
        min_txid=1,
        max_txid=1,
        timestamp=now_ms,
        flags=flags,
    )
    with (level0 / format_filename(1, 1)).open("wb") as f:
        enc = Encoder(f, snapshot)
        for pgno in sorted(old):
            enc.write_page(pgno, old[pgno])
        enc.finish(database_checksum(old.items()) if checksums else 0)

    con = sqlite3.connect(db)
    con.execute("DELETE FROM t WHERE id % 3 = 0")
    con.execute("INSERT INTO t (body) VALUES (?)", (os.urandom(20000),))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    new = _db_pages(db, page_size)
    changed = sorted(p for p, d in new.items() if old.get(p) != d)
    assert changed

    incremental = Header(
        page_size=page_size,
        commit=len(new),
        min_txid=2,
        max_txid=2,
        timestamp=now_ms + 1,
        pre_apply_checksum=database_checksum(old.items()) if checksums else 0,
        flags=flags,
    )
    with (level0 / format_filename(2, 2)).open("wb") as f:
        enc = Encoder(f, incremental)
        for pgno in changed:
            enc.write_page(pgno, new[pgno])
        enc.finish(database_checksum(new.items()) if checksums else 0)
    return db, replica


def _go_restore(
    go_litestream: Path, go_env: dict[str, str], replica: Path, out: Path
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(go_litestream), "restore", "-o", str(out), f"file://{replica}"],
        env=go_env,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("page_size", "megabytes"), [(4096, 6), (1024, 2)], ids=["4k-6MB", "1k-2MB"]
)
def test_go_restores_what_we_write(
    tmp_path: Path, go_litestream: Path, go_env: dict[str, str], page_size: int, megabytes: int
) -> None:
    db, replica = _write_replica(tmp_path, page_size, HEADER_FLAG_NO_CHECKSUM, megabytes)
    out = tmp_path / "out.db"
    result = _go_restore(go_litestream, go_env, replica, out)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    assert out.read_bytes() == db.read_bytes()
    con = sqlite3.connect(out)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


def test_go_restore_rejects_files_with_checksums(
    tmp_path: Path, go_litestream: Path, go_env: dict[str, str]
) -> None:
    """Go 0.5.17 compacts restores with the no-checksum flag yet copies the last file's
    post-apply checksum, so files carrying checksums cannot be restored by it. This pins
    why a Go-compatible replica must be written with HEADER_FLAG_NO_CHECKSUM.
    """
    _, replica = _write_replica(tmp_path, 4096, 0, 1)
    result = _go_restore(go_litestream, go_env, replica, tmp_path / "out.db")
    assert result.returncode != 0
    assert b"post-apply checksum not allowed" in result.stderr
