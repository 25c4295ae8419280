"""The embedding API's events: a recording plugin sees them in order, and a listener
that raises or hangs never slows replication."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import Writer, rows_of

from litestream_core import api
from litestream_core.engine.db import DBSettings
from litestream_core.engine.replica import ReplicaSettings
from litestream_core.events import (
    LTXFileUploaded,
    LTXFileWritten,
    ReplicaStarted,
    ReplicaStopped,
    RestoreCompleted,
    RestoreProgress,
)
from litestream_core.hookspecs import hookimpl
from litestream_core.plugins import get_plugin_manager


class Recorder:
    def __init__(self) -> None:
        self.events: list = []
        self.lock = threading.Lock()

    @hookimpl
    def litestream_event(self, event):
        with self.lock:
            self.events.append(event)


class Raises:
    @hookimpl
    def litestream_event(self, event):
        raise RuntimeError("listener bug")


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def litestream_event(self, event):
        self.release.wait()  # until the test ends: replication must not wait for it


def test_events_in_order_and_bad_listeners_do_not_block(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    pm = get_plugin_manager(only=("file",))
    recorder, hangs = Recorder(), Hangs()
    pm.register(Raises(), name="raises")
    pm.register(hangs, name="hangs")
    pm.register(recorder, name="recorder")
    writer = Writer(db)

    async def main():
        fast = {
            "db_settings": DBSettings(monitor_interval=0.05),
            "replica_settings": ReplicaSettings(sync_interval=0.02),
        }
        async with api.replicate(db, f"file://{replica}", pm=pm, **fast) as r:
            for _ in range(20):
                writer.step(3)
                await r.wait_for_sync(timeout=10)  # a stalled engine raises TimeoutError

    try:
        asyncio.run(main())
    finally:
        hangs.release.set()
    events = list(recorder.events)
    assert isinstance(events[0], ReplicaStarted) and isinstance(events[-1], ReplicaStopped)
    written = [e.max_txid for e in events if isinstance(e, LTXFileWritten) and e.level == 0]
    uploaded = [e.max_txid for e in events if isinstance(e, LTXFileUploaded) and e.level == 0]
    assert written == sorted(written) and uploaded == sorted(uploaded)
    assert uploaded and set(uploaded) <= set(written)

    out = tmp_path / "out.db"
    seen = []
    api.restore_sync(f"file://{replica}", out, on_event=seen.append)
    assert isinstance(seen[-1], RestoreCompleted)
    assert any(isinstance(e, RestoreProgress) for e in seen)
    assert rows_of(out) == writer.rows()
    writer.close()
