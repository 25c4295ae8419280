"""Lost positions and bad inputs: the monitor answers with a snapshot or a clear error."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from litestream_core.engine.db import DB, DBSettings
from litestream_core.errors import DatabaseError
from litestream_core.events import Event, SnapshotWritten

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    AppProcess,
    ChainChecker,
    app_connect,
    apply_files,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
    write_mixed,
)


def snapshot_reasons(events: list[Event]) -> list[str]:
    return [e.reason for e in events if isinstance(e, SnapshotWritten)]


class Session:
    """Open the monitor, run ``body`` with it, close it: one replicator 'run'."""

    def __init__(self, path: Path, app: AppProcess, **settings: object) -> None:
        self.path, self.app = path, app
        self.settings = DBSettings(**settings)  # type: ignore[arg-type]
        self.events: list[Event] = []
        self.image = bytearray()
        self.applied: list[Path] = []
        self.app_checkpoints: list[tuple[int, int, int]] = []

    def run(self, steps: range, *, checkpoint_app: str | None = None) -> DB:
        async def main() -> DB:
            db = DB(self.path, self.settings, emit=self.events.append)
            await db.open()
            chain = ChainChecker(db, self.app)
            chain.image, chain.applied = self.image, self.applied
            await db.sync()
            chain.check()
            for step in steps:
                write_mixed(self.app, step)
                if checkpoint_app and step == steps[len(steps) // 2]:
                    sql = f"PRAGMA wal_checkpoint({checkpoint_app})"
                    self.app_checkpoints.append(self.app.execute(sql).fetchall()[0])
                await db.sync()
                chain.check()
            await db.close()
            return db

        return run(main())


@pytest.mark.parametrize("mode", ["TRUNCATE", "RESTART"])
def test_checkpoint_behind_our_back_while_running(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    app.execute("PRAGMA busy_timeout=0")
    session = Session(path, app)
    session.run(range(20), checkpoint_app=mode)  # checks the chain after every step
    assert snapshot_reasons(session.events) == ["first sync"]
    assert session.app_checkpoints[0][0] == 1  # busy: our read lock holds the WAL


@pytest.mark.parametrize("mode", ["TRUNCATE", "RESTART", "PASSIVE"])
def test_checkpoint_behind_our_back_while_stopped(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    session = Session(path, app)
    session.run(range(10))
    for step in range(10, 15):
        write_mixed(app, step)
    app.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
    for step in range(15, 17):
        write_mixed(app, step)  # restarts the WAL: a new generation
    session.run(range(17, 25))
    assert snapshot_reasons(session.events) == [
        "first sync",
        "WAL restarted since the last LTX file",
    ]


def test_auto_checkpoint_while_stopped_overwrites_less_than_we_copied(tmp_path: Path) -> None:
    """Go's corruption: the new WAL generation is shorter than our old position, so the
    last frame we copied still exists, yet commits after it were checkpointed unseen."""
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    session = Session(path, app)
    session.run(range(30))
    app.execute("UPDATE t SET v = randomblob(50) WHERE id = 1")  # never seen by us
    app.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    app.execute("INSERT INTO t (v) VALUES (x'00')")  # restart: one frame of a new generation
    session.run(range(30, 35))
    assert snapshot_reasons(session.events)[1] == "WAL restarted since the last LTX file"


def test_application_auto_checkpoint_while_stopped(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=20)
    session = Session(path, app)
    session.run(range(10))
    for step in range(10, 60):  # the app's own auto-checkpoint restarts the WAL
        write_mixed(app, step)
    session.run(range(60, 70))
    assert snapshot_reasons(session.events) == [
        "first sync",
        "WAL restarted since the last LTX file",
    ]


def test_reopen_continues_without_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    session = Session(path, app, min_checkpoint_page_count=100000)
    session.run(range(10))
    for step in range(10, 20):  # same WAL generation while we are stopped
        write_mixed(app, step)
    session.run(range(20, 30))
    session.run(range(30, 32))
    assert snapshot_reasons(session.events) == ["first sync"]


def test_meta_dir_deleted_between_runs(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    session = Session(path, app)
    db = session.run(range(10))
    shutil.rmtree(db.meta_path)
    session.image.clear()
    session.applied.clear()
    db = session.run(range(10, 15))
    assert snapshot_reasons(session.events) == ["first sync", "first sync"]
    assert l0_files(db)[0].name.startswith("0000000000000001-")


def test_corrupt_newest_local_file_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    session = Session(path, app)
    db = session.run(range(5))
    newest = l0_files(db)[-1]
    newest.write_bytes(newest.read_bytes()[:-9] + b"corrupted")
    txid = db.pos().txid

    async def main() -> DB:
        again = DB(path, emit=session.events.append)
        await again.open()
        await again.sync()
        await again.close()
        return again

    again = run(main())
    assert again.pos().txid == txid + 1
    assert not newest.exists()
    assert snapshot_reasons(session.events)[-1] == "local LTX state corrupt"
    assert bytes(apply_files([l0_files(again)[-1]])) == app.serialize()


def test_uncommitted_frames_are_not_copied(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    reader = AppProcess(path, create=False)  # sees committed data only: the oracle

    async def main() -> None:
        db = DB(path)
        await db.open()
        chain = ChainChecker(db, reader)
        await db.sync()
        chain.check()
        app.execute("PRAGMA cache_size=2")  # spill the big transaction into the WAL
        app.execute("BEGIN")
        for _ in range(50):
            app.execute("INSERT INTO t (v) VALUES (randomblob(3000))")
        wal_size = os.path.getsize(f"{path}-wal")
        assert await db.sync() is None
        assert os.path.getsize(f"{path}-wal") >= wal_size > 100_000
        chain.check()
        app.execute("COMMIT")
        await db.sync()
        chain.check()
        await db.close()

    run(main())


def test_garbage_after_the_last_frame_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db = DB(path)
        await db.open()
        chain = ChainChecker(db, app)
        await db.sync()
        with open(f"{path}-wal", "ab") as f:
            f.write(os.urandom(4096 + 24))
        assert await db.sync() is None
        chain.check()
        await db.close()

    run(main())


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    content = b"these are not the pages you are looking for\n" * 100
    path.write_bytes(content)
    with pytest.raises(DatabaseError) as err:
        run(DB(path).open())
    assert err.value.one_line() == f"{path} is not a SQLite database"
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()


def test_locked_database_is_set_up_when_the_lock_goes(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    app = AppProcess(path, create=False)
    app.execute("CREATE TABLE t (x)")
    app.execute("INSERT INTO t VALUES (1)")
    app.execute("BEGIN")
    app.execute("SELECT * FROM t").fetchall()  # a shared lock: WAL mode cannot be set
    before = path.read_bytes()

    async def main() -> None:
        db = DB(path, DBSettings(busy_timeout=0.05))
        await db.open()  # like Go, a locked database is not fatal: sync retries
        with pytest.raises(DatabaseError) as err:
            await db.sync()
        message = err.value.one_line()
        assert message.startswith(f"cannot enable WAL mode on {path}: ")
        assert "\n" not in message
        assert path.read_bytes() == before
        assert app.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        app.execute("ROLLBACK")
        assert await db.sync() is not None
        assert path.read_bytes()[18:20] == b"\x02\x02"  # the file now says WAL
        await db.close()

    run(main())


def test_directory_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as err:
        run(DB(tmp_path).open())
    assert err.value.one_line() == f"{tmp_path} is a directory, not a SQLite database"


def test_stale_tmp_files_are_removed_at_open(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    session = Session(path, app)
    db = session.run(range(3))
    stale = db.ltx_path(0, 9, 9).with_suffix(".ltx.tmp")
    stale.write_bytes(b"half a file")
    session.run(range(3, 5))
    assert not stale.exists()
    assert snapshot_reasons(session.events) == ["first sync"]


def test_sync_after_close_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db = DB(path)
        await db.open()
        await db.sync()
        await db.close()
        app.execute("INSERT INTO t (v) VALUES (1)")
        assert await db.sync() is None
        assert db.pos().txid == 1

    run(main())


_REPLICATOR = r"""
import asyncio, sys
from litestream_core.engine.db import DB, DBSettings

async def main():
    db = DB(sys.argv[1], DBSettings(monitor_interval=0.05, min_checkpoint_page_count=50))
    await db.open()
    print("ready", flush=True)
    await db.monitor()

asyncio.run(main())
"""


@pytest.mark.slow
def test_sigkill_while_the_application_writes(tmp_path: Path) -> None:
    """Go's reported corruption: SIGKILL the replicator again and again while the
    application writes with auto-checkpoint on; the L0 chain must still rebuild it."""
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=30)
    rnd = random.Random(7)
    step = 0
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", _REPLICATOR, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for _ in range(rnd.randint(5, 40)):
            write_mixed(app, step)
            step += 1
            time.sleep(rnd.random() * 0.005)
        proc.kill()
        proc.wait()
        for _ in range(rnd.randint(0, 40)):  # writes while no replicator runs
            write_mixed(app, step)
            step += 1
        if rnd.random() < 0.3:
            app.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def final() -> DB:
        db = DB(path)
        await db.open()
        await db.sync()
        await db.close()
        return db

    db = run(final())
    restored = tmp_path / "restored.db"
    restored.write_bytes(apply_files(l0_files(db)))
    assert restored.read_bytes() == app.serialize()
    check = sqlite3.connect(restored)
    assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    check.close()


def test_warns_when_the_database_is_open_in_this_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "app.db"
    same_process = sqlite3.connect(path)
    same_process.execute("PRAGMA journal_mode=wal")
    same_process.execute("CREATE TABLE t (x)")

    async def main() -> None:
        db = DB(path)
        await db.open()
        await db.close()

    with caplog.at_level("WARNING", logger="litestream.db"):
        run(main())
    assert any("already open in this process" in r.getMessage() for r in caplog.records)
    same_process.close()
    caplog.clear()
    with caplog.at_level("WARNING", logger="litestream.db"):
        run(main())
    assert not any("already open in this process" in r.getMessage() for r in caplog.records)
