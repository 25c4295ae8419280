"""Hazard 22 (Go's reliability table): local L0 files that are corrupt or missing.

A local file that no longer verifies, or a hole in the local TXID sequence, must
never reach the replica; the replica continues with a snapshot of the database
instead, and every file it holds verifies and restores the application's data.
The application writes through the stdlib ``sqlite3`` module in another process.
"""

from __future__ import annotations

import asyncio
import errno
import sys
from pathlib import Path

import pytest
from litestream_file.client import FileReplicaClient

from litestream_core.client import SNAPSHOT_LEVEL
from litestream_core.engine import meta as meta_module
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.replica import Replica
from litestream_core.engine.restore import restore
from litestream_core.events import Event, LTXFileUploaded, SnapshotWritten
from litestream_core.ltx import verify_file

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)


def flip_bit_in_page_data(path: Path) -> None:
    """One bit in the middle of the file (page data), leaving header and trailer."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def every_remote_file_verifies(replica_dir: Path) -> int:
    files = sorted(replica_dir.rglob("*.ltx"))
    for path in files:
        with path.open("rb") as f:
            verify_file(f)  # raises on any bad byte
    return len(files)


def damage_then_upload(tmp_path: Path, damage: str) -> tuple[list[Event], Path]:
    """Replicate a few commits, then write more locally, damage one pending file in
    the middle, and let the replica catch up. Returns the events and the restore."""
    path = tmp_path / "app.db"
    app = app_connect(path)
    events: list[Event] = []
    client = FileReplicaClient(tmp_path / "replica")

    async def main() -> Path:
        db = DB(path, DBSettings(min_checkpoint_page_count=1 << 30), emit=events.append)
        await db.open()
        replica = Replica(db, client, emit=events.append)
        await replica.start()
        app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
        await db.sync()
        await replica.sync()
        for _ in range(5):  # five pending local files, not uploaded yet
            app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
            await db.sync()
        pending = [p for p in l0_files(db) if int(p.name[:16], 16) > replica.pos.txid]
        assert len(pending) == 5
        middle = pending[2]
        if damage == "flip":
            flip_bit_in_page_data(middle)
        else:
            middle.unlink()
        await replica.sync()
        assert replica.pos == db.pos()
        app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")  # and it goes on
        await db.sync()
        await replica.sync()
        assert replica.pos == db.pos()
        await db.close()
        await client.close()
        out = tmp_path / "restored.db"
        await asyncio.wait_for(restore(FileReplicaClient(tmp_path / "replica"), out), 60)
        return out

    out = run(main())
    assert every_remote_file_verifies(tmp_path / "replica") > 0
    assert out.read_bytes() == app.serialize()
    return events, out


def uploaded(events: list[Event], level: int) -> list[int]:
    return [e.max_txid for e in events if isinstance(e, LTXFileUploaded) and e.level == level]


def test_bit_flip_in_a_pending_local_file_is_never_uploaded(tmp_path: Path) -> None:
    events, _ = damage_then_upload(tmp_path, "flip")
    # TXIDs 2..3 went up as L0, the corrupt TXID 4 did not: a snapshot replaced it.
    assert uploaded(events, 0)[:3] == [1, 2, 3]
    assert 4 not in uploaded(events, 0)
    assert any(
        isinstance(e, SnapshotWritten) and e.level == SNAPSHOT_LEVEL and "corrupt" in e.reason
        for e in events
    )


def test_missing_local_file_in_the_middle_is_bridged_by_a_snapshot(tmp_path: Path) -> None:
    events, _ = damage_then_upload(tmp_path, "missing")
    assert 4 not in uploaded(events, 0)
    assert uploaded(events, SNAPSHOT_LEVEL)


def test_compaction_goes_around_a_local_copy_damaged_after_upload(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    client = FileReplicaClient(tmp_path / "replica")

    async def main() -> None:
        db = DB(path, DBSettings(min_checkpoint_page_count=1 << 30))
        await db.open()
        replica = Replica(db, client)
        await replica.start()
        for _ in range(3):
            app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
            await db.sync()
            await replica.sync()
        newest = l0_files(db)[-1]  # the one local copy kept after upload
        flip_bit_in_page_data(newest)
        written = await Compactor(client, db=db).compact(1)
        assert [(f.min_txid, f.max_txid) for f in written] == [(1, db.pos().txid)]
        await db.close()

    run(main())
    assert every_remote_file_verifies(tmp_path / "replica") > 0
    out = tmp_path / "restored.db"
    run(asyncio.wait_for(restore(FileReplicaClient(tmp_path / "replica"), out), 60))
    assert out.read_bytes() == app.serialize()


def test_file_written_but_not_acknowledged_is_never_uploaded(tmp_path: Path, monkeypatch) -> None:
    """Hazard 12: the rename happened but the directory fsync failed, so the sync
    failed and the position did not move. The file under the next TXID is rewritten
    by the next sync with more commits; uploading the first version would lose them."""
    path = tmp_path / "app.db"
    app = app_connect(path)
    client = FileReplicaClient(tmp_path / "replica")

    def failing_fsync_dir(_: Path) -> None:
        raise OSError(errno.EIO, "Input/output error")

    async def main() -> None:
        db = DB(path, DBSettings(min_checkpoint_page_count=1 << 30))
        await db.open()
        replica = Replica(db, client)
        await replica.start()
        app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
        await db.sync()
        await replica.sync()
        app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
        await db.sync()  # TXID 2: pending upload
        with monkeypatch.context() as m:
            m.setattr(meta_module, "fsync_dir", failing_fsync_dir)
            app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
            with pytest.raises(OSError):
                await db.sync()
        assert db.pos().txid == 2 and db.ltx_path(0, 3, 3).exists()
        await replica.sync()
        assert replica.pos.txid == 2
        app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
        await db.sync()
        await replica.sync()
        assert replica.pos == db.pos()
        await db.close()

    run(main())
    out = tmp_path / "restored.db"
    run(asyncio.wait_for(restore(FileReplicaClient(tmp_path / "replica"), out), 60))
    assert out.read_bytes() == app.serialize()
