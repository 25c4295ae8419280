"""``max-sync-wal-bytes``: a WAL backlog becomes several L0 files, each ending on a
commit, that rebuild the database exactly; other work on the database runs between."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from litestream_core.config import parse_config
from litestream_core.engine.db import DB, DBSettings
from litestream_core.ltx import decode_file

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    apply_files,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
    write_mixed,
)

LIMIT = 64 * 1024


def test_backlog_is_synced_in_chunks_at_commit_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    settings = DBSettings(max_sync_wal_bytes=LIMIT, checkpoint_interval=0)

    async def main() -> tuple[list[Path], list[str]]:
        db = DB(path, settings)
        await db.open()
        await db.sync()
        first = len(l0_files(db))
        for step in range(60):  # about 300 KiB of WAL while nobody syncs
            write_mixed(app, step)
        await db.sync()
        files = l0_files(db)[first:]
        # A checkpoint asked for during a catch-up waits for one step, not for all.
        for step in range(60, 120):
            write_mixed(app, step)
        order: list[str] = []

        async def sync() -> None:
            await db.sync()
            order.append("sync")

        task = asyncio.create_task(sync())
        await asyncio.sleep(0.01)  # the catch-up's first step is under way
        await db.checkpoint("PASSIVE")
        order.append("checkpoint")
        await task
        await db.close()
        return files, order

    files, order = run(main())
    assert order == ["checkpoint", "sync"]
    assert len(files) >= 4
    sizes = []
    for f in files:
        header, _, _ = decode_file(f.read_bytes())
        assert header.commit > 0 and header.wal_size > 0
        sizes.append(header.wal_size)
    # Each step stops at the first commit past the limit: no file is far beyond it.
    assert max(sizes[:-1]) < LIMIT + 64 * 1024
    image = apply_files(sorted(path.parent.glob(".app.db-litestream/ltx/0/*.ltx")))
    assert bytes(image) == app.serialize()


def test_unlimited_and_config():
    assert DBSettings().max_sync_wal_bytes == 64 << 20  # Go's default
    cfg = parse_config("dbs:\n  - path: /a.db\n    max-sync-wal-bytes: 1MiB\n"
                       "  - path: /b.db\n    max-sync-wal-bytes: 0\n")  # fmt: skip
    assert [d.max_sync_wal_bytes for d in cfg.dbs] == [1 << 20, 0]
