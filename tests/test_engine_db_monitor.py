"""The monitor loop: early wake-up on commits, error backoff, failed/recovered events."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from litestream_core.engine.db import DB, DBSettings
from litestream_core.events import CheckpointCompleted, Event, SyncFailed, SyncRecovered

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    ChainChecker,
    app_connect,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)


async def wait_for(predicate: object, timeout: float = 20.0) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_a_commit_wakes_the_monitor_before_the_tick(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    app = app_connect(path)

    async def main() -> None:
        # A tick far longer than the test may take: only the wake-up can sync.
        db = DB(path, DBSettings(monitor_interval=3600, wake_interval=0.01))
        await db.open()
        chain = ChainChecker(db, app)
        task = asyncio.create_task(db.monitor())
        try:
            db.changed.clear()
            app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
            await asyncio.wait_for(db.changed.wait(), 20)
            await wait_for(lambda: db.pos().txid == 1)
            chain.check()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await db.close()

    run(main())


def test_a_steady_writer_gets_about_one_file_per_interval(tmp_path: Path) -> None:
    """Early wake-ups must not turn every commit into an L0 file (an object to upload)."""
    path = tmp_path / "a.db"
    app = app_connect(path)
    commits = 200

    async def main() -> int:
        db = DB(path, DBSettings(monitor_interval=0.5, wake_interval=0.005))
        await db.open()
        task = asyncio.create_task(db.monitor())
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(commits):
                app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
                await asyncio.sleep(0.005)
            elapsed = loop.time() - started
            await wait_for(lambda: db.pos().txid > 0)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await db.close()
        # One file per started interval plus the start-up and closing syncs, an early
        # wake-up per interval at most: far below one file per commit.
        return int(elapsed / 0.5) * 2 + 4

    bound = run(main())
    files = len(list((tmp_path / ".a.db-litestream" / "ltx" / "0").glob("*.ltx")))
    assert 0 < files <= bound < commits


def test_errors_back_off_and_recover(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    app = app_connect(path)
    seen: list[Event] = []

    def listener(event: Event) -> None:
        seen.append(event)
        raise RuntimeError("a broken listener must not stop replication")

    async def main() -> None:
        db = DB(path, DBSettings(monitor_interval=0.02, wake_interval=0), emit=listener)
        await db.open()
        await db.sync()
        shutil.rmtree(db.meta_path)
        db.meta_path.write_text("not a directory")  # every LTX write now fails
        app.execute("INSERT INTO t (v) VALUES (1)")
        task = asyncio.create_task(db.monitor())
        try:
            await wait_for(lambda: sum(isinstance(e, SyncFailed) for e in seen) >= 3)
            db.meta_path.unlink()
            await wait_for(lambda: any(isinstance(e, SyncRecovered) for e in seen))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert db.pos().txid == 2
        await db.close()

    run(main())
    failed = [e for e in seen if isinstance(e, SyncFailed)]
    assert [e.attempt for e in failed] == list(range(1, len(failed) + 1))
    assert all(e.replica is None and e.operation == "sync" and "\n" not in e.error for e in failed)
    assert all(e.will_retry and not e.unexpected for e in failed)
    recovered = [e for e in seen if isinstance(e, SyncRecovered)]
    assert recovered[0].failures == len(failed)


@contextlib.asynccontextmanager
async def monitoring(db: DB) -> AsyncIterator[None]:
    """The database's monitor running for the block; it must stop only when cancelled."""
    task = asyncio.create_task(db.monitor())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class CountingSyncs:
    """Wraps a DB's syncer so the test sees every sync the monitor starts."""

    def __init__(self, db: DB) -> None:
        self.calls = 0
        syncer = db._syncer
        inner = syncer.sync

        def sync(*args: object) -> object:
            self.calls += 1
            return inner(*args)  # type: ignore[arg-type]

        syncer.sync = sync  # type: ignore[method-assign]


@pytest.mark.parametrize("wake_interval", [0.0, 0.01])
def test_an_idle_database_does_no_sync_work(tmp_path: Path, wake_interval: float) -> None:
    """Ticks with no WAL change cost no sync (no thread, no WAL read, no file), with or
    without early wake-ups; a commit is still picked up, and then it is idle again."""
    path = tmp_path / "a.db"
    app = app_connect(path)
    app.execute("INSERT INTO t (v) VALUES (randomblob(100))")

    async def main() -> None:
        db = DB(path, DBSettings(monitor_interval=0.01, wake_interval=wake_interval))
        await db.open()
        counter = CountingSyncs(db)
        async with monitoring(db):
            await wait_for(lambda: db.pos().txid == 1)
            for step in (2, 3):
                await asyncio.sleep(0.1)
                settled = counter.calls
                await asyncio.sleep(0.5)  # some 50 ticks
                assert counter.calls == settled
                app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
                await wait_for(lambda: db.pos().txid == step)  # noqa: B023
        await db.close()

    run(main())


def test_an_idle_database_still_checkpoints_on_time(tmp_path: Path) -> None:
    """Skipping idle ticks must not skip the checkpoint that becomes due by time."""
    path = tmp_path / "a.db"
    app = app_connect(path)
    seen: list[Event] = []

    async def main() -> None:
        settings = DBSettings(monitor_interval=0.02, checkpoint_interval=0.3)
        db = DB(path, settings, emit=seen.append)
        await db.open()
        async with monitoring(db):
            await wait_for(lambda: db.pos().txid >= 1)
            for _ in range(3):
                app.execute("INSERT INTO t (v) VALUES (randomblob(5000))")
            await wait_for(lambda: any(isinstance(e, CheckpointCompleted) for e in seen), 10)
        await db.close()

    run(main())


def test_idle_databases_share_one_timer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """N idle databases park on the loop's one idle ticker: each pass looks at every
    database (a counted idle sync each), and no monitor task wakes for it; a commit
    still wakes its own database at once."""
    from litestream_core.engine import db as db_module
    from litestream_core.engine.ticker import SharedTicker

    monkeypatch.setattr(db_module, "IDLE_TICK", 0.05)
    n = 6
    apps = [app_connect(tmp_path / f"{i}.db") for i in range(n)]
    waits = 0
    real_wait = DB._wait

    async def counting_wait(self: DB, *args: Any) -> float:
        nonlocal waits
        waits += 1
        return await real_wait(self, *args)

    monkeypatch.setattr(DB, "_wait", counting_wait)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        dbs = [DB(tmp_path / f"{i}.db", DBSettings(monitor_interval=0.01)) for i in range(n)]
        for db in dbs:
            await db.open()
        tasks = [asyncio.create_task(db.monitor()) for db in dbs]
        try:
            ticker = SharedTicker.of(loop, "idle databases", db_module.IDLE_TICK)
            await wait_for(lambda: len(ticker) == n)
            ticks, woke = ticker.ticks, waits
            counts = [db.stats.sync_count for db in dbs]
            await wait_for(lambda: ticker.ticks >= ticks + 5)
            assert waits == woke  # no monitor woke: only the one ticker ran
            assert all(db.stats.sync_count > c for db, c in zip(dbs, counts, strict=True))
            apps[2].execute("INSERT INTO t (v) VALUES (randomblob(100))")
            await wait_for(lambda: dbs[2].pos().txid == 2)
            assert all(db.pos().txid == 1 for i, db in enumerate(dbs) if i != 2)
            await wait_for(lambda: len(ticker) == n)  # idle again: parked again
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert len(ticker) == 0  # stopped monitors leave nothing parked
        for db in dbs:
            await db.close()

    run(main())
