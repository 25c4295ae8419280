"""Hazard 6 (Go's reliability table): a newest LTX file recorded at WAL offset 32.

An L0 file whose header says the WAL held only its header (offset 32, size 0; Go
writes these, and we read Go's meta directory) gave Go negative offset arithmetic
(#900). On restart we must continue from the start of that WAL generation, with the
chain still reproducing the application's database exactly. The application writes
through the stdlib ``sqlite3`` module in another process.
"""

from __future__ import annotations

import sys
from pathlib import Path

from litestream_core.engine.db import DB, DBSettings
from litestream_core.ltx import Encoder, decode_file

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    apply_files,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)


def rewrite_wal_position(path: Path, offset: int, size: int) -> None:
    header, pages, trailer = decode_file(path.read_bytes())
    with path.open("wb") as out:
        enc = Encoder(out, header.with_(wal_offset=offset, wal_size=size))
        for pgno, data in pages:
            enc.write_page(pgno, data)
        enc.finish(trailer.post_apply_checksum)


def test_newest_file_at_wal_offset_32_continues_from_the_wal_start(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    settings = DBSettings(min_checkpoint_page_count=1 << 30)

    async def main() -> None:
        db = DB(path, settings)
        await db.open()
        for _ in range(3):
            app.execute("INSERT INTO t (v) VALUES (randomblob(5000))")
            await db.sync()
        await db.close()
        rewrite_wal_position(l0_files(db)[-1], 32, 0)
        app.execute("INSERT INTO t (v) VALUES (randomblob(7000))")
        again = DB(path, settings)
        await again.open()
        assert again.pos().txid == 3
        await again.sync()
        app.execute("UPDATE t SET v = randomblob(10) WHERE id = 1")
        await again.sync()
        assert again.pos().txid == 5
        await again.close()
        assert bytes(apply_files(l0_files(again))) == app.serialize()

    run(main())


def test_engine_sqlite_has_the_wal_reset_fix() -> None:
    """Hazard 26: SQLite 3.7.0 to 3.51.2 can corrupt a WAL on reset (Go #1432). The
    engine's connections use APSW's bundled SQLite, never the stdlib's 3.40.1."""
    import apsw

    from litestream_core.engine import sqlite as engine_sqlite

    assert engine_sqlite.apsw is apsw
    version = tuple(int(p) for p in apsw.sqlite_lib_version().split("."))
    assert version >= (3, 51, 3), version
