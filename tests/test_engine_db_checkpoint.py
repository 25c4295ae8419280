"""Checkpointing as Go does it, and the WAL restarts that follow."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from litestream_core.engine import checkpoint as ckpt
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.wal import read_wal_header, wal_size_for_pages
from litestream_core.events import CheckpointCompleted, Event, SnapshotWritten

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    AppProcess,
    ChainChecker,
    app_connect,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
    write_mixed,
)

PAGE = 4096


def state(pages: int, synced: bool = True, idle: float = 0.0) -> ckpt.CheckpointState:
    return ckpt.CheckpointState(wal_size_for_pages(PAGE, pages), synced, idle)


@pytest.mark.parametrize(
    ("settings", "st", "mode"),
    [
        (DBSettings(), state(999), None),
        (DBSettings(), state(1000), "PASSIVE"),
        (DBSettings(), state(121358), "PASSIVE"),
        (DBSettings(), state(121359), "TRUNCATE"),
        (DBSettings(truncate_page_n=0), state(500000), "PASSIVE"),
        (DBSettings(), state(10, idle=61), "PASSIVE"),
        (DBSettings(), state(10, synced=False, idle=61), None),
        (DBSettings(), state(10, idle=59), None),
        (DBSettings(), state(1, idle=600), None),  # only our own bookkeeping frame
        (DBSettings(checkpoint_interval=0), state(10, idle=600), None),
    ],
)
def test_policy(settings: DBSettings, st: ckpt.CheckpointState, mode: str | None) -> None:
    assert ckpt.choose(settings, PAGE, st) == mode


def workload(
    path: Path, settings: DBSettings, *, checkpoint: str | None = None
) -> tuple[list[Event], AppProcess]:
    app = app_connect(path)
    events: list[Event] = []

    async def main() -> None:
        db = DB(path, settings, emit=events.append)
        await db.open()
        chain = ChainChecker(db, app)
        for step in range(30):
            write_mixed(app, step)
            await db.sync()
            chain.check()
            if checkpoint and step in (10, 20):
                await db.checkpoint(checkpoint)
                chain.check()
        await db.close()

    run(main())
    return events, app


def kinds(events: list[Event]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, CheckpointCompleted):
            out.append(e.mode)
        elif isinstance(e, SnapshotWritten):
            out.append(f"snapshot: {e.reason}")
    return out


def test_truncate_is_followed_by_a_boundary_snapshot(tmp_path: Path) -> None:
    events, _ = workload(tmp_path / "a.db", DBSettings(), checkpoint="truncate")
    assert kinds(events) == [
        "snapshot: first sync",
        "TRUNCATE",
        "snapshot: checkpoint boundary snapshot",
        "TRUNCATE",
        "snapshot: checkpoint boundary snapshot",
    ]


@pytest.mark.parametrize("mode", ["RESTART", "PASSIVE"])
def test_restart_and_passive_continue_without_a_snapshot(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "a.db"
    salts = []
    app = app_connect(path)

    async def main() -> None:
        db = DB(path)
        await db.open()
        chain = ChainChecker(db, app)
        for step in range(12):
            write_mixed(app, step)
            await db.sync()
            chain.check()
            if step % 4 == 3:
                await db.checkpoint(mode)
                chain.check()
                hdr = read_wal_header(Path(f"{path}-wal"))
                assert hdr is not None
                salts.append(hdr.salts)
        await db.close()

    run(main())
    assert len(set(salts)) == 3  # the WAL restarted after each checkpoint


def test_page_threshold_runs_passive_and_restarts(tmp_path: Path) -> None:
    events, _ = workload(tmp_path / "a.db", DBSettings(min_checkpoint_page_count=20))
    modes = kinds(events)
    assert modes[0] == "snapshot: first sync"
    assert set(modes[1:]) == {"PASSIVE"}


def test_truncate_threshold_tries_passive_first(tmp_path: Path) -> None:
    settings = DBSettings(min_checkpoint_page_count=10**6, truncate_page_n=20)
    events, _ = workload(tmp_path / "a.db", settings)
    modes = kinds(events)
    assert "PASSIVE" in modes and "TRUNCATE" not in modes  # PASSIVE restarted the WAL


def test_interval_checkpoint_needs_synced_data(tmp_path: Path) -> None:
    settings = DBSettings(min_checkpoint_page_count=10**6, checkpoint_interval=1e-6)
    events, _ = workload(tmp_path / "a.db", settings)
    assert "PASSIVE" in kinds(events)


def test_busy_database_skips_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    app = app_connect(path)
    events: list[Event] = []

    async def main() -> None:
        db = DB(path, DBSettings(busy_timeout=0.05), emit=events.append)
        await db.open()
        await db.sync()
        app.execute("BEGIN IMMEDIATE")  # the application holds the write lock
        await db.checkpoint("PASSIVE")
        app.execute("COMMIT")
        await db.close()

    run(main())
    assert kinds(events) == ["snapshot: first sync"]
