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


async def app_and_db(tmp_path):
    """An application's WAL database with an empty table, and our DB opened on it."""
    app = sqlite3.connect(tmp_path / "app.db")
    app.execute("PRAGMA journal_mode=wal")
    app.execute("CREATE TABLE t (x BLOB)")
    app.commit()
    db = DB(tmp_path / "app.db")
    await db.open()
    return app, db


@pytest.mark.anyio
async def test_database_snapshots_and_compactions_restore_exactly(tmp_path):
    app, db = await app_and_db(tmp_path)
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


@pytest.mark.anyio
async def test_a_lone_source_already_in_compacted_form_is_uploaded_as_is(tmp_path):
    """Merging one file whose header compaction would keep rewrites it byte for byte,
    so the compactor uploads it as is; L0 files (with their WAL position) are re-encoded."""
    from litestream_file.client import FileReplicaClient

    from litestream_core.engine.compaction import _as_is
    from litestream_core.errors import LTXError
    from litestream_core.ltx import Decoder, compact

    app = sqlite3.connect(tmp_path / "app.db")
    app.execute("PRAGMA journal_mode=wal")
    app.execute("CREATE TABLE t (x BLOB)")
    app.execute("INSERT INTO t VALUES (randomblob(20000))")
    app.commit()
    db = DB(tmp_path / "app.db")
    await db.open()
    client = FileReplicaClient(tmp_path / "replica")
    await client.init()
    comp = Compactor(client, CompactionSettings(level_intervals=(1.0, 2.0, 3.0)))
    try:
        for _ in range(3):
            app.execute("UPDATE t SET x = randomblob(9000) WHERE rowid % 2 = 0")
            app.execute("INSERT INTO t VALUES (randomblob(5000))")
            app.commit()
            info = await db.sync()
            assert info is not None
            path = db.ltx_path(0, info.min_txid, info.max_txid)
            await client.write_ltx_file(
                0, info.min_txid, info.max_txid, await local_file_data(path)
            )
        l0 = [client.file_path(0, n, n) for n in range(1, db.pos().txid + 1)]
        assert all(_as_is(p) is None for p in l0)  # an L0 file names its WAL position
        (l1,) = await comp.compact(1)
        l1_path = client.file_path(1, l1.min_txid, l1.max_txid)
        l1_bytes = l1_path.read_bytes()
        with l1_path.open("rb") as f:
            assert _as_is(l1_path) == Decoder(f).header
        with l1_path.open("rb") as src:
            remerged = tmp_path / "remerged.ltx"
            with remerged.open("wb") as out:
                compact([src], out)
        assert remerged.read_bytes() == l1_bytes  # the claim the shortcut rests on

        (l2,) = await comp.compact(2)
        assert client.file_path(2, l2.min_txid, l2.max_txid).read_bytes() == l1_bytes

        await client.delete_ltx_files([l2])
        damaged = bytearray(l1_bytes)
        damaged[len(damaged) // 2] ^= 0xFF
        l1_path.write_bytes(bytes(damaged))
        with pytest.raises(LTXError):
            await comp.compact(2)
        assert not [f async for f in client.ltx_files(2)]  # nothing damaged is copied up
    finally:
        await db.close()
        await client.close()
        app.close()


@pytest.mark.anyio
async def test_compacting_a_file_replica_reads_its_files_in_one_hand_off(tmp_path):
    """The low-latency setting leaves thousands of small L0 files per compaction: a
    file replica's are linked in one worker-thread call, not read through the loop
    one by one (several hand-offs each). The result is the same merge."""
    from concurrent.futures import ThreadPoolExecutor

    from litestream_file.client import FileReplicaClient

    from litestream_core.client import Capability
    from litestream_core.engine.streams import fetch_bytes

    class Counting(ThreadPoolExecutor):
        handed = 0

        def submit(self, fn, /, *args, **kwargs):
            Counting.handed += 1
            return super().submit(fn, *args, **kwargs)

    app, db = await app_and_db(tmp_path)
    client = FileReplicaClient(tmp_path / "replica")
    client.capabilities = frozenset({Capability.LOCAL_FILESYSTEM})
    memory = MemoryReplicaClient()
    await memory.init()
    try:
        for _ in range(40):
            app.execute("INSERT INTO t VALUES (randomblob(300))")
            app.commit()
            info = await db.sync()
            data = await local_file_data(db.ltx_path(0, info.min_txid, info.max_txid))
            await client.write_ltx_file(0, info.min_txid, info.max_txid, data)
            await memory.write_ltx_file(0, info.min_txid, info.max_txid, data)
            if info.max_txid % 2:  # half of them uploaded and removed locally, as usual
                await db.remove_ltx_files(0, info.max_txid - 1)
        import asyncio

        asyncio.get_running_loop().set_default_executor(Counting())
        settings = CompactionSettings(level_intervals=(1.0,))
        (merged,) = await Compactor(client, settings, db=db).compact(1)
        assert Counting.handed < 10
        (expected,) = await Compactor(memory, settings).compact(1)
        assert (merged.min_txid, merged.max_txid) == (1, 40)
        got = client.file_path(1, 1, 40).read_bytes()
        assert got == await fetch_bytes(memory, expected)
    finally:
        await db.close()
        app.close()
