"""The compactor beside the real engine: a monitored database, its L0 files, L9 from the DB."""

from __future__ import annotations

import sqlite3

import pytest

from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.restore import restore
from litestream_core.engine.streams import local_file_data
from litestream_core.engine.verify import verify_replica
from litestream_core.testing.memory import MemoryReplicaClient


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_database_snapshots_and_compactions_restore_exactly(tmp_path):
    app = sqlite3.connect(tmp_path / "app.db")
    app.execute("PRAGMA journal_mode=wal")
    app.execute("CREATE TABLE t (x BLOB)")
    app.commit()
    db = DB(tmp_path / "app.db")
    await db.open()
    client = MemoryReplicaClient()
    await client.init()
    comp = Compactor(client, CompactionSettings(level_intervals=(1.0, 2.0)), db=db)
    try:
        for i in range(24):
            app.execute("INSERT INTO t VALUES (randomblob(3000))")
            if i % 7 == 6:
                app.execute("DELETE FROM t WHERE rowid % 3 = 0")
            app.commit()
            info = await db.sync()
            assert info is not None
            path = db.ltx_path(0, info.min_txid, info.max_txid)
            await client.write_ltx_file(
                0, info.min_txid, info.max_txid, await local_file_data(path)
            )
            if i % 6 == 5:
                assert await comp.compact(1)
            if i == 11:
                assert await comp.compact(2)
                snap = await comp.snapshot()
                assert snap is not None and snap.max_txid == db.pos().txid
        report = await verify_replica(client)
        assert report.ok, report.problems
        assert report.points[-1].txid == db.pos().txid
        await restore(client, tmp_path / "restored.db")
        expected = [r[0] for r in app.execute("SELECT x FROM t ORDER BY rowid")]
    finally:
        await db.close()
        app.close()
    got = sqlite3.connect(tmp_path / "restored.db")
    assert [r[0] for r in got.execute("SELECT x FROM t ORDER BY rowid")] == expected
    assert got.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    got.close()
