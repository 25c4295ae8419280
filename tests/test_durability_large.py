"""A database larger than 1 GiB, through the CLI, restored byte-identical by us and by Go.

SQLite never writes the page holding byte 0x40000000 (the lock page, page 262145 at
4096-byte pages) and LTX never stores it, so every page number past it is where an
off-by-one in snapshot, incremental sync or restore would show. The database is built
in a handful of transactions with journaling off (one write of each page instead of
WAL plus checkpoint), then switched to WAL and replicated; after the snapshot an
incremental change touches pages beyond the lock page. All files are removed at the end:
together they take about 4 GiB at their peak.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from durability_helpers import (
    OURS,
    Tool,
    caught_up,
    file_digest,
    max_txid,
    stop,
    wait_for,
    write_config,
)

from litestream_core.ltx import Decoder, lock_pgno

PAGE = 4096
LOCK_PAGE = lock_pgno(PAGE)
ROW = 1 << 20  # a quarter random, the rest zeros: distinct pages that compress well


def build(db: Path, rows: int, per_tx: int) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA page_size={PAGE}")
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    for start in range(0, rows, per_tx):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO t (v) VALUES (randomblob(?) || zeroblob(?))",
            [(ROW // 4, ROW - ROW // 4)] * min(per_tx, rows - start),
        )
        conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def pages_after(replica: Path, txid: int) -> set[int]:
    """Page numbers in the replica's L0 files written after ``txid``."""
    pages: set[int] = set()
    for ltx in (replica / "ltx" / "0").glob("*.ltx"):
        if int(ltx.name[:16], 16) > txid:
            with ltx.open("rb") as f:
                pages.update(pgno for pgno, _ in Decoder(f).pages())
    return pages


@pytest.mark.slow
def test_database_over_1gib_restores_byte_identical_with_ours_and_go(
    tmp_path, go_litestream, go_env
):
    ours, go = Tool("ours", OURS), Tool("go", go_litestream, go_env)
    db, replica = tmp_path / "big.db", tmp_path / "replica"
    meta = tmp_path / ".big.db-litestream"
    try:
        build(db, rows=1056, per_tx=264)  # 1056 MiB of blobs: about 270,600 pages
        assert db.stat().st_size > (LOCK_PAGE + 8000) * PAGE
        proc = ours.replicate(write_config(tmp_path, db, replica))
        try:
            wait_for(lambda: caught_up(db, meta), 300, "snapshot")
            snapshot_txid = max_txid(meta)
            # After the snapshot: rewrite rows whose pages lie past the lock page, and
            # grow the file by a few more.
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("BEGIN")
            conn.execute("UPDATE t SET v = randomblob(3000) WHERE id > 1040 AND id % 3 = 0")
            conn.execute("INSERT INTO t (v) VALUES (randomblob(200000))")
            conn.execute("COMMIT")
            wait_for(lambda: caught_up(db, meta), 120, "incremental sync")
            wait_for(lambda: max_txid(replica) >= max_txid(meta), 120, "upload")
            changed = pages_after(replica, snapshot_txid)
            assert min(changed) < LOCK_PAGE < max(changed)  # page 1 and pages past it
            assert LOCK_PAGE not in changed
        finally:
            assert stop(proc, timeout=120) == 0
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        shutil.rmtree(meta)  # disk: the local L0 snapshot is another gigabyte
        expected = file_digest(db)

        for tool in (ours, go):
            out = tmp_path / f"restored-{tool.name}.db"
            result = tool.run("restore", "-o", str(out), f"file://{replica}")
            assert result.returncode == 0, f"{tool.name}: {result.stderr}"
            assert out.stat().st_size == db.stat().st_size, tool.name
            assert file_digest(out) == expected, f"{tool.name} restore differs from the source"
            out.unlink()
    finally:
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
        shutil.rmtree(meta, ignore_errors=True)
        shutil.rmtree(replica, ignore_errors=True)
