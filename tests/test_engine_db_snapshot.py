"""Snapshots for the replica never stall syncs (an L9 snapshot of a large database takes
a while; Go keeps syncing meanwhile, and so must we)."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import time
from pathlib import Path

from litestream_core.engine.db import DB, DBSettings
from litestream_core.ltx import decode_file

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    apply_files,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)


class SlowOutput(io.BytesIO):
    """A destination that takes its time: a snapshot written to it lasts seconds
    (standing in for a 1 GiB database on a slow disk), and it says when it started."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.started = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.started.set()
        time.sleep(self.delay)
        return super().write(data)


def test_syncs_go_on_while_a_snapshot_is_written(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    for _ in range(40):  # some 40 pages: 40 slow writes, a couple of seconds
        app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")

    async def main() -> None:
        db = DB(path, DBSettings(min_checkpoint_page_count=5))
        await db.open()
        await db.sync()
        out = SlowOutput(0.05)
        snapshot = asyncio.create_task(db.write_snapshot(out))
        await asyncio.to_thread(out.started.wait, 10)
        during: list[int] = []
        for _ in range(3):
            app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
            await asyncio.wait_for(db.sync(), 5)  # not queued behind the snapshot
            during.append(db.pos().txid)
        assert not snapshot.done(), "the snapshot was meant to outlast the syncs"
        header = await snapshot
        assert during == [header.max_txid + 1, header.max_txid + 2, header.max_txid + 3]

        # The snapshot is the database at its TXID, untouched by the syncs (and the
        # checkpoints they wanted) that ran while it was read.
        _, pages, _ = decode_file(out.getvalue())
        files = [f for f in l0_files(db) if int(f.name[:16], 16) <= header.max_txid]
        assert b"".join(data for _, data in pages) == bytes(apply_files(files))
        await db.sync()  # the checkpoint deferred during the snapshot runs now
        await db.close()

    run(main())
