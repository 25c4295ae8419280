"""Hazard 20 (Go's reliability table): the meta directory's volume fills up.

The meta directory sits on a 512 KiB tmpfs; the application's database does not. While
the volume is full every sync fails, but nothing half-written may stay behind or be
uploaded, the position must not move, and once space returns replication continues
with no gap: the replica restores the application's database exactly.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from pathlib import Path

import pytest
from litestream_file.client import FileReplicaClient

from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.replica import Replica
from litestream_core.engine.restore import restore
from litestream_core.errors import describe
from litestream_core.ltx import verify_file

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)


def fill(volume: Path) -> Path:
    """Take every free byte of the volume; returns the file to delete for space."""
    filler = volume / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def files_all_verify(root: Path) -> int:
    files = sorted(root.rglob("*.ltx"))
    for path in files:
        with path.open("rb") as f:
            verify_file(f)
    return len(files)


def test_full_meta_volume_fails_cleanly_and_recovers(tmp_path: Path, small_volume: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    meta = small_volume / "meta"
    client = FileReplicaClient(tmp_path / "replica")

    async def main() -> None:
        db = DB(path, DBSettings(meta_path=str(meta), min_checkpoint_page_count=1 << 30))
        await db.open()
        replica = Replica(db, client)
        await replica.start()
        app.execute("INSERT INTO t (v) VALUES (randomblob(2000))")
        await db.sync()
        await replica.sync()
        before = db.pos()
        filler = fill(small_volume)

        # Each commit now needs more room than is left.
        for _ in range(3):
            app.execute("INSERT INTO t (v) VALUES (randomblob(60000))")
            with pytest.raises(OSError) as info:
                await db.sync()
            assert info.value.errno == errno.ENOSPC
            assert "No space left on device" in describe(info.value)  # the metric's marker
            assert db.pos() == before
        assert not list(meta.rglob("*.tmp")), "a half-written file stayed behind"
        files_all_verify(meta)
        await replica.sync()  # nothing new to upload; must not fail or upload junk
        assert replica.pos == before

        filler.unlink()  # space returns
        app.execute("INSERT INTO t (v) VALUES (randomblob(2000))")
        await db.sync()
        assert db.pos().txid == before.txid + 1  # no TXID was used up by the failures
        await replica.sync()
        assert replica.pos == db.pos()
        await db.close()

    run(main())
    assert files_all_verify(tmp_path / "replica") > 0
    out = tmp_path / "restored.db"
    run(asyncio.wait_for(restore(FileReplicaClient(tmp_path / "replica"), out), 60))
    assert out.read_bytes() == app.serialize()
