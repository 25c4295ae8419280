"""Event delivery: each listener isolated, and the emitter never waits on one.

Listeners that hang block on a gate the test opens only after it has checked that
everything else went on; if emitting waited on a listener, these tests would hang
(and pytest-timeout would fail them) instead of passing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest

from litestream_core import hookimpl
from litestream_core.event_dispatch import EventDispatcher
from litestream_core.events import ReplicaStarted, SyncFailed
from litestream_core.plugins import get_plugin_manager

pytestmark = pytest.mark.timeout(60)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def litestream_event(self, event):
        self.seen.append(event.replica)


class AsyncRecorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    async def litestream_event(self, event):
        await asyncio.sleep(0)
        self.seen.append(event.replica)


class Raiser:
    calls = 0

    @hookimpl
    def litestream_event(self, event):
        self.calls += 1
        raise RuntimeError(f"listener bug on {event.replica}")


class SyncHang:
    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.seen: list[str] = []

    @hookimpl
    def litestream_event(self, event):
        self.seen.append(event.replica)
        self.gate.wait()


class AsyncHang:
    def __init__(self) -> None:
        self.cancelled = 0

    @hookimpl
    async def litestream_event(self):
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    gate = threading.Event()
    yield gate
    gate.set()


def events(n: int, prefix: str = "r") -> list[ReplicaStarted]:
    return [ReplicaStarted(replica=f"{prefix}{i}") for i in range(n)]


def test_failing_and_hanging_listeners_do_not_hold_up_the_others(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    pm = get_plugin_manager(autoload=False)
    good, agood, raiser, hang = Recorder(), AsyncRecorder(), Raiser(), SyncHang(gate)
    for plugin in (raiser, hang, good, agood):
        pm.register(plugin)
    dispatcher = EventDispatcher(pm, timeout=0.5, log_interval=3600)
    caplog.set_level(logging.WARNING, logger="litestream.events")

    batch = events(8)
    for event in batch:
        dispatcher.emit_nowait(event)
    assert dispatcher.drain(30)

    expected = [e.replica for e in batch]
    assert good.seen == expected
    assert agood.seen == expected
    assert raiser.calls == len(batch)
    # The hung listener got the first event, was abandoned, and then skipped.
    assert hang.seen == ["r0"]
    messages = [r.getMessage() for r in caplog.records]
    raised = [m for m in messages if "listener bug" in m]
    assert len(raised) == 1, "errors of one listener are rate-limited to one line"
    assert "\n" not in raised[0]
    assert any("SyncHang" in m and "did not finish" in m for m in messages)

    # Once the stuck call returns, the listener receives events again.
    gate.set()
    for _ in range(1000):
        dispatcher.emit_nowait(ReplicaStarted(replica="after"))
        assert dispatcher.drain(30)
        if "after" in hang.seen:
            break
    assert "after" in hang.seen
    assert dispatcher.close(30)


def test_hanging_coroutine_listener_is_cancelled_and_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pm = get_plugin_manager(autoload=False)
    hang, good = AsyncHang(), AsyncRecorder()
    pm.register(hang)
    pm.register(good)
    dispatcher = EventDispatcher(pm, timeout=0.5)
    caplog.set_level(logging.WARNING, logger="litestream.events")
    for event in events(3):
        dispatcher.emit_nowait(event)
    assert dispatcher.drain(30)
    assert good.seen == ["r0", "r1", "r2"]
    assert hang.cancelled == 3
    assert any("AsyncHang" in r.getMessage() for r in caplog.records)
    dispatcher.close(5)


def test_async_emit_returns_while_a_listener_is_blocked(gate: threading.Event) -> None:
    pm = get_plugin_manager(autoload=False)
    hang, good = SyncHang(gate), Recorder()
    pm.register(hang)
    pm.register(good)
    dispatcher = EventDispatcher(pm, timeout=30)

    async def engine() -> None:
        for event in events(5):
            await dispatcher.emit(event)

    asyncio.run(engine())
    # The engine finished while the first event is still held by the hung listener.
    assert not gate.is_set()
    gate.set()
    assert dispatcher.drain(30)
    assert good.seen == [f"r{i}" for i in range(5)]
    assert hang.seen == [f"r{i}" for i in range(5)]
    dispatcher.close(30)


def test_emit_from_other_threads_reaches_every_listener() -> None:
    pm = get_plugin_manager(autoload=False)
    good = Recorder()
    pm.register(good)
    dispatcher = EventDispatcher(pm)

    threads = [
        threading.Thread(target=lambda p=p: [dispatcher.emit_nowait(e) for e in events(10, p)])
        for p in "abc"
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert dispatcher.drain(30)
    assert sorted(good.seen) == sorted(f"{p}{i}" for p in "abc" for i in range(10))
    for p in "abc":
        assert [s for s in good.seen if s[0] == p] == [f"{p}{i}" for i in range(10)]
    dispatcher.close(30)


def test_listener_gets_only_the_arguments_it_names() -> None:
    pm = get_plugin_manager(autoload=False)
    calls: list[object] = []

    class NoArgs:
        @hookimpl
        def litestream_event(self):
            calls.append("called")

    class WithDefault:
        # pluggy does not pass arguments that have defaults: this sees None.
        @hookimpl
        def litestream_event(self, event=None):
            calls.append(event)

    pm.register(NoArgs())
    pm.register(WithDefault())
    dispatcher = EventDispatcher(pm)
    dispatcher.emit_nowait(
        SyncFailed(operation="upload", replica="s3", error="boom", error_class="OSError")
    )
    assert dispatcher.drain(30)
    assert sorted(calls, key=repr) == sorted(["called", None], key=repr)
    dispatcher.close(30)


def test_no_listener_means_no_background_thread() -> None:
    dispatcher = EventDispatcher(get_plugin_manager(autoload=False))
    before = threading.active_count()
    dispatcher.emit_nowait(ReplicaStarted(replica="x"))
    assert dispatcher.drain(1)
    assert threading.active_count() == before


def test_close_abandons_hung_listeners_and_the_dispatcher_can_start_again() -> None:
    pm = get_plugin_manager(autoload=False)
    delivered = threading.Semaphore(0)

    class Signal:
        @hookimpl
        def litestream_event(self, event):
            delivered.release()

    pm.register(AsyncHang())
    pm.register(Signal())
    dispatcher = EventDispatcher(pm, timeout=60)
    dispatcher.emit_nowait(ReplicaStarted(replica="first"))
    assert delivered.acquire(timeout=30)
    # The async listener holds its event for 60 s: close gives up on it.
    assert not dispatcher.close(0.1)
    dispatcher.emit_nowait(ReplicaStarted(replica="second"))
    assert delivered.acquire(timeout=30)
    dispatcher.close(0.1)


def test_a_burst_from_thousands_of_databases_is_delivered_whole() -> None:
    """A thousand databases starting at once emit thousands of events within a second;
    a plain listener (the log is one) must get every one of them, in order."""
    pm = get_plugin_manager(autoload=False)
    good = Recorder()
    pm.register(good)
    dispatcher = EventDispatcher(pm)
    batch = events(5000)
    for event in batch:
        dispatcher.emit_nowait(event)
    assert dispatcher.drain(30)
    assert good.seen == [e.replica for e in batch]
    assert dispatcher.close(30)
