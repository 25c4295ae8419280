"""Storage calls that hang must not stop the WAL from being copied.

Blocking SDKs run in the event loop's default thread pool, where a storage server that
stops answering holds threads for its timeouts and retries. Here every thread of that
pool hangs, as in a long outage with many requests in flight; the database monitor must
still write L0 files, on threads of its own.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from litestream_core.engine.db import DB, DBSettings

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_engine_db_support import (
    app_connect,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)


def test_database_syncs_while_every_storage_thread_hangs(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    release = threading.Event()

    async def main() -> int:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
        hung = [asyncio.ensure_future(asyncio.to_thread(release.wait)) for _ in range(4)]
        db = DB(path, DBSettings(min_checkpoint_page_count=1 << 30))
        try:
            await asyncio.wait_for(db.open(), 10)
            for _ in range(3):
                app.execute("INSERT INTO t (v) VALUES (randomblob(2000))")
                await asyncio.wait_for(db.sync(), 10)
            await asyncio.wait_for(db.close(), 10)
            return db.pos().txid
        finally:
            release.set()
            await asyncio.gather(*hung)

    assert run(main()) >= 3
