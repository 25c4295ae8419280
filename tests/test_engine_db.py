"""The database monitor: WAL frames to L0 LTX files that rebuild the database exactly."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from litestream_core.engine.db import DB, DBSettings, Pos
from litestream_core.engine.snapshot import snapshot_pages
from litestream_core.engine.wal import frame_size, read_wal_header
from litestream_core.events import CheckpointCompleted, LTXFileWritten, SnapshotWritten
from litestream_core.ltx import (
    CHECKSUM_FLAG,
    HEADER_FLAG_NO_CHECKSUM,
    Header,
    database_checksum,
    decode_file,
    encode_file,
    lock_pgno,
)

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    ChainChecker,
    app_connect,
    apply_files,
    close_apps,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
    write_and_sync,
    write_mixed,
)


def pages_of(image: bytes, page_size: int) -> list[tuple[int, bytes]]:
    return [(i // page_size + 1, image[i : i + page_size]) for i in range(0, len(image), page_size)]


def test_chain_reproduces_database_at_every_txid(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=40)
    events: list[object] = []

    async def main() -> DB:
        db = DB(path, DBSettings(min_checkpoint_page_count=25), emit=events.append)
        await db.open()
        chain = ChainChecker(db, app)
        for step in range(80):
            write_mixed(app, step)
            if step == 50:
                app.execute("DELETE FROM t WHERE id % 2 = 0")
                app.execute("VACUUM")
            await db.sync()
            chain.check()
        await db.close()
        return db

    db = run(main())
    salts = {
        (h.wal_salt1, h.wal_salt2) for h in (decode_file(f.read_bytes())[0] for f in l0_files(db))
    }
    assert len(salts) >= 3  # the WAL restarted after our checkpoints, and we followed it
    snapshots = [e for e in events if isinstance(e, SnapshotWritten)]
    checkpoints = [e for e in events if isinstance(e, CheckpointCompleted)]
    assert [s.reason for s in snapshots] == ["first sync"]
    assert len(checkpoints) >= 3  # the WAL restarted several times without a snapshot
    written = [e for e in events if isinstance(e, LTXFileWritten)]
    assert [e.min_txid for e in written] == list(range(1, len(written) + 1))


def test_vacuum_shrinks_commit(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    app.execute("INSERT INTO t (v) VALUES (randomblob(200000))")

    async def main() -> tuple[int, int]:
        db = DB(path)
        await db.open()
        chain = ChainChecker(db, app)
        await db.sync()
        chain.check()
        before = decode_file(l0_files(db)[-1].read_bytes())[0].commit
        app.execute("DELETE FROM t")
        app.execute("VACUUM")
        await db.sync()
        chain.check()
        after = decode_file(l0_files(db)[-1].read_bytes())[0].commit
        await db.close()
        return before, after

    before, after = run(main())
    assert after < before


def test_headers_are_filled_as_go_fills_them(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    app.execute("INSERT INTO t (v) VALUES (randomblob(5000))")

    async def main() -> None:
        db = DB(path)
        await db.open()
        t0 = int(time.time() * 1000)
        await db.sync()
        wal = read_wal_header(Path(f"{path}-wal"))
        assert wal is not None
        first, pages, trailer = decode_file(l0_files(db)[0].read_bytes())
        assert (first.min_txid, first.max_txid) == (1, 1)
        assert first.flags == HEADER_FLAG_NO_CHECKSUM
        assert first.pre_apply_checksum == 0 and trailer.post_apply_checksum == 0
        assert first.wal_offset == 32
        assert first.wal_size == Path(f"{path}-wal").stat().st_size - 32
        assert (first.wal_salt1, first.wal_salt2) == wal.salts
        assert first.commit == app.execute("PRAGMA page_count").fetchone()[0]
        assert [p for p, _ in pages] == list(range(1, first.commit + 1))
        assert t0 <= first.timestamp <= int(time.time() * 1000)

        app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        await db.sync()
        second = decode_file(l0_files(db)[1].read_bytes())[0]
        assert (second.min_txid, second.max_txid) == (2, 2)
        assert second.wal_offset == first.wal_offset + first.wal_size
        assert second.wal_size % frame_size(4096) == 0 and second.wal_size > 0
        assert (second.wal_salt1, second.wal_salt2) == wal.salts
        assert db.pos() == Pos(2, 0)
        await db.close()

    run(main())


def test_nothing_new_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app_connect(path)

    async def main() -> None:
        db = DB(path)
        await db.open()
        assert await db.sync() is not None
        assert await db.sync() is None
        assert await db.sync() is None
        assert len(l0_files(db)) == 1
        await db.close()

    run(main())


def test_lock_page_is_skipped_in_snapshots() -> None:
    lock = lock_pgno(512)
    assert lock == 2097153
    pages = list(snapshot_pages(lock + 2, 512))
    assert lock not in pages
    assert pages[lock - 2 : lock] == [lock - 1, lock + 1]
    assert len(pages) == lock + 1
    assert list(snapshot_pages(3, 4096)) == [1, 2, 3]


def test_checksums_follow_full_recomputation(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    settings = DBSettings(ltx_checksums=True, min_checkpoint_page_count=20)

    async def main() -> None:
        db = DB(path, settings)
        await db.open()
        chain = ChainChecker(db, app)
        for step in range(40):
            write_mixed(app, step)
            if step == 30:
                app.execute("VACUUM")
            await db.sync()
            chain.check()
            want = database_checksum(pages_of(app.serialize(), 4096))
            assert db.pos().post_apply_checksum == want
        # The chain of pre/post-apply checksums links every file to the one before.
        prev = 0
        for f in l0_files(db):
            header, _, trailer = decode_file(f.read_bytes())
            assert header.flags == 0
            assert header.pre_apply_checksum == prev
            prev = trailer.post_apply_checksum
        out = io.BytesIO()
        header = await db.write_snapshot(out)  # the encoder re-verifies the checksum
        assert header.flags == 0
        await db.close()

    run(main())


def test_checksums_survive_a_restart_with_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    settings = DBSettings(ltx_checksums=True)
    events: list[object] = []

    async def main() -> None:
        db = DB(path, settings)
        await db.open()
        await db.sync()
        await db.close()
        app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
        db = DB(path, settings, emit=events.append)
        await db.open()
        await db.sync()
        header, _, trailer = decode_file(l0_files(db)[-1].read_bytes())
        assert header.min_txid == 2 and header.pre_apply_checksum != 0
        assert trailer.post_apply_checksum == database_checksum(pages_of(app.serialize(), 4096))
        await db.close()

    run(main())
    assert [e.reason for e in events if isinstance(e, SnapshotWritten)] == [
        "page checksums are not in memory"
    ]


def test_write_snapshot_is_the_database_at_pos(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db = DB(path, DBSettings(min_checkpoint_page_count=10))
        await db.open()
        await write_and_sync(db, app, range(25))
        out = io.BytesIO()
        header = await db.write_snapshot(out)
        assert (header.min_txid, header.max_txid) == (1, db.pos().txid)
        assert header.flags == HEADER_FLAG_NO_CHECKSUM
        got, pages, trailer = decode_file(out.getvalue())
        assert trailer.post_apply_checksum == 0
        image = b"".join(data for _, data in pages)
        assert image == app.serialize()
        assert got.commit == len(pages)
        await db.close()

    run(main())


def test_database_that_appears_later(tmp_path: Path) -> None:
    path = tmp_path / "later.db"

    async def main() -> None:
        db = DB(path)
        await db.open()
        assert await db.sync() is None
        assert db.pos() == Pos(0, 0)
        app = app_connect(path)
        app.execute("INSERT INTO t (v) VALUES (randomblob(10))")
        info = await db.sync()
        assert info is not None and info.max_txid == 1
        assert bytes(apply_files(l0_files(db))) == app.serialize()
        await db.close()

    run(main())


def test_rebase_continues_after_the_remote_position(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db = DB(path)
        await db.open()
        await write_and_sync(db, app, range(5))
        # A newer file from the replica, as the replica loop downloads it.
        remote = db.ltx_path(0, 40, 40)
        remote.write_bytes(
            encode_file(
                Header(4096, 1, 40, 40, flags=HEADER_FLAG_NO_CHECKSUM), [(1, bytes(4096))], 0
            )
        )
        await db.rebase(Pos(40, 0), remote)
        assert db.pos() == Pos(40, 0)
        assert [f.max_txid for f in db.local_ltx_files()] == [40]
        info = await db.sync()
        assert info is not None and info.max_txid == 41
        full = db.ltx_path(0, 41, 41)
        assert bytes(apply_files([full])) == app.serialize()
        await db.remove_ltx_files(0, 41)
        assert [f.max_txid for f in db.local_ltx_files()] == [41]
        await db.close()

    run(main())


def test_remove_ltx_files_keeps_the_position(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db = DB(path)
        await db.open()
        await write_and_sync(db, app, range(4))
        await db.remove_ltx_files(0, 3)
        assert [f.max_txid for f in db.local_ltx_files(0)] == [4]
        await db.remove_ltx_files(0, 4)
        assert [f.max_txid for f in db.local_ltx_files(0)] == [4]
        await db.close()

    run(main())


def test_internal_tables_as_go_creates_them(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db = DB(path)
        await db.open()
        await db.sync()
        await db.close()

    run(main())
    sql = dict(app.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE '_litestream%'"))
    assert sql == {
        "_litestream_seq": "CREATE TABLE _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER)",
        "_litestream_lock": "CREATE TABLE _litestream_lock (id INTEGER)",
    }
    assert app.execute("SELECT COUNT(*) FROM _litestream_lock").fetchone()[0] == 0


def test_go_restores_our_l0_chain(
    tmp_path: Path, go_litestream: Path, go_env: dict[str, str]
) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> DB:
        db = DB(path, DBSettings(min_checkpoint_page_count=15))
        await db.open()
        for step in range(30):
            write_mixed(app, step)
            await db.sync()
            if step == 20:
                await db.checkpoint("TRUNCATE")  # a full-content L0 file mid-chain
        await db.close()
        return db

    db = run(main())
    decoded = [decode_file(f.read_bytes()) for f in l0_files(db)[1:]]
    assert any(len(pages) == h.commit >= 10 for h, pages, _ in decoded)  # full copy mid-chain
    replica = tmp_path / "replica"
    shutil.copytree(db.ltx_dir(0), replica / "ltx" / "0")
    out = tmp_path / "restored.db"
    proc = subprocess.run(
        [str(go_litestream), "restore", "-o", str(out), f"file://{replica}"],
        env=go_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == app.serialize()


@pytest.mark.parametrize("flag", [0, CHECKSUM_FLAG])
def test_pos_is_read_back_from_the_newest_file(tmp_path: Path, flag: int) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    settings = DBSettings(ltx_checksums=bool(flag))

    async def main() -> Pos:
        db = DB(path, settings)
        await db.open()
        app.execute("INSERT INTO t (v) VALUES (randomblob(10))")
        await db.sync()
        pos = db.pos()
        await db.close()
        again = DB(path, settings)
        await again.open()
        assert again.pos() == pos
        await again.close()
        return pos

    pos = run(main())
    assert pos.txid == 1
    assert (pos.post_apply_checksum & CHECKSUM_FLAG) == flag


def append_frame(wal: Path, pgno: int, commit: int, page: bytes) -> None:
    """Append a valid frame to a real WAL, continuing SQLite's checksum chain."""
    data = wal.read_bytes()
    hdr = read_wal_header(wal)
    assert hdr is not None and not hdr.big_endian
    fs = frame_size(hdr.page_size)
    end = 32 + (len(data) - 32) // fs * fs
    s0, s1 = struct.unpack(">II", data[end - fs + 16 : end - fs + 24])
    head = struct.pack(">II", pgno, commit)
    words = struct.unpack(f"<{(8 + len(page)) // 4}I", head + page)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    with open(wal, "r+b") as f:
        f.seek(end)
        f.write(head + struct.pack(">IIII", *hdr.salts, s0, s1) + page)


def test_growth_pages_missing_from_the_wal_are_filled(tmp_path: Path) -> None:
    """A commit that grows the database past pages no frame carries (Go #1198).

    The frame is appended behind SQLite's back, so the application's connection (which
    trusts its wal-index) does not see it; the file is what we replicate.
    """
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    app.execute("INSERT INTO t (v) VALUES (randomblob(100))")

    async def main() -> None:
        db = DB(path)
        await db.open()
        await db.sync()
        n = app.execute("PRAGMA page_count").fetchone()[0]
        # Grow by three pages; only the last one is in the WAL.
        append_frame(Path(f"{path}-wal"), n + 3, n + 3, b"\x5a" * 4096)
        await db.sync()
        header, pages, _ = decode_file(l0_files(db)[-1].read_bytes())
        assert header.commit == n + 3
        # Pages past the end of the database file read as zeros, as SQLite reads them.
        assert pages == [(n + 1, bytes(4096)), (n + 2, bytes(4096)), (n + 3, b"\x5a" * 4096)]
        await db.close()

    run(main())


def test_wal_file_persists_when_we_close_last(tmp_path: Path) -> None:
    """PERSIST_WAL: closing the last connection must not delete the WAL (Go sets it too)."""
    path = tmp_path / "app.db"
    app = app_connect(path)
    app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
    close_apps()

    async def main() -> None:
        db = DB(path)
        await db.open()
        await db.sync()
        await db.close()

    run(main())
    assert Path(f"{path}-wal").exists()
