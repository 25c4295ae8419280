"""A long run's memory is flat: replicating more transactions keeps no more objects.

Resident memory proper (glibc arenas) is measured in ``bench/cost.py --long``; here
the Python heap is held to a bound, so a cache or list that grows with every sync,
every file or every event is caught by the test suite rather than by a user.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from pathlib import Path

from litestream_file.client import FileReplicaClient

from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.memory import tune_malloc
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.store import Entry, Store

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    stop_applications,  # noqa: F401 - an autouse fixture
)


def test_the_python_heap_does_not_grow_with_transactions(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    seen: list[object] = []

    async def burst(db: DB, replica: Replica, commits: int) -> None:
        for _ in range(commits):
            app.execute("INSERT INTO t (v) VALUES (randomblob(300))")
            await asyncio.sleep(0.004)
        await db.sync()
        await replica.wait_for_txid(db.pos().txid, 30)
        seen.clear()  # events are the test's, not the engine's, to keep

    async def main() -> tuple[int, int]:
        db = DB(path, DBSettings(monitor_interval=0.01, min_checkpoint_page_count=64))
        replica = Replica(
            db, FileReplicaClient(tmp_path / "replica"), ReplicaSettings(sync_interval=0.01),
            emit=seen.append,
        )  # fmt: skip
        store = Store([Entry(db, replica)])
        await store.open()
        try:
            await burst(db, replica, 150)  # warm-up: caches, pools, the first checkpoints
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            await burst(db, replica, 450)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            await store.close()
        return before, after

    tracemalloc.start()
    try:
        before, after = asyncio.run(main())
    finally:
        tracemalloc.stop()
    # Three times the transactions, syncs, L0 files and checkpoints of the warm-up.
    assert after - before < 64 * 1024, f"heap grew by {(after - before) // 1024} KiB"


def test_malloc_is_told_not_to_hoard() -> None:
    """glibc only; elsewhere there is nothing to tune and nothing to test."""
    if sys.platform.startswith("linux"):
        assert tune_malloc()
