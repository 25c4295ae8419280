"""Delivering engine events to every ``litestream_event`` listener, each on its own.

pluggy calls implementations in a row and stops at the first exception, and it has no
async calling; replication must never wait for a listener. So events are queued and a
background thread with its own event loop delivers each to each listener separately: a
plain function runs in its own daemon thread, a coroutine on the dispatcher's loop with
a timeout, failures are logged one line at a time (rate-limited), and the engine's
``emit`` only ever enqueues.

Costs are per burst, not per event: emitting wakes the dispatcher only if it is not
already due to run, and a plain listener's thread gets every event queued for it in
one hand-off (each call still has its own deadline). A thousand databases starting
at once emit thousands of events in a second; one hand-off per event fell behind and
dropped them.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from litestream_core.errors import describe

if TYPE_CHECKING:
    from litestream_core.events import Event


_log = logging.getLogger("litestream.events")


async def _cancel_tasks() -> None:
    """Cancel listener tasks still running (abandoned coroutines) so the loop can close."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _RateLimitedLog:
    """At most one line per key per ``interval``, saying how many were held back."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._held.pop(key, 0)
        _log.warning(message, extra={"suppressed": held} if held else None)


class _Thread:
    """One daemon thread running calls in order: a sync listener's own worker.

    A daemon thread, unlike a ThreadPoolExecutor's, cannot hold up interpreter exit
    when a listener hangs forever.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._calls.put((call, future))
        return future

    def stop(self) -> None:
        self._calls.put(None)

    def _run(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)


@dataclass(eq=False)
class _Batch:
    """Events handed to a plain listener's thread at once, and how far it got."""

    events: list[Event]
    delivered: int = 0
    started: float | None = None
    """Monotonic start of the call in progress, None between calls."""
    cut: bool = False
    """Abandoned by the dispatcher: the thread delivers nothing more of it."""
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(eq=False)
class _Listener:
    impl: pluggy.HookImpl
    events: collections.deque[Event] = field(default_factory=collections.deque)
    running: bool = False
    stuck: bool = False
    thread: _Thread | None = None

    @property
    def label(self) -> str:
        return f"{self.impl.plugin_name}:{self.impl.function.__qualname__}"


class EventDispatcher:
    """Delivers events to every ``litestream_event`` listener without ever waiting on one.

    ``emit``/``emit_nowait`` only queue the event and return. A background thread
    running its own event loop delivers it to each listener separately (pluggy would
    stop at the first exception): a plain function runs in a thread of its own, a
    coroutine on that loop, each with ``timeout`` seconds to finish. A listener that
    raises is logged (rate-limited, one line); one that overruns is abandoned, and
    misses events until its stuck call returns, so it holds at most one thread. Each
    listener gets events in emission order; at most ``max_queue`` wait per listener,
    beyond which new ones are dropped for it.

    Nothing starts until the first event for which a listener exists.

    ``listeners`` are objects with a ``litestream_event`` hookimpl that belong to this
    run only (the log, a progress bar): they are delivered to like plugins, without
    being registered on ``pm``, which may be shared by several runs.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        *,
        listeners: Iterable[object] = (),
        timeout: float = 5.0,
        max_queue: int = 10000,
        log_interval: float = 60.0,
    ) -> None:
        self._pm = pm
        self._own: pluggy.PluginManager | None = None
        for listener in listeners:
            self.add_listener(listener)
        self._timeout = timeout
        self._max_queue = max_queue
        self._log = _RateLimitedLog(log_interval)
        self._listeners: dict[pluggy.HookImpl, _Listener] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._inbox: collections.deque[Event] = collections.deque()
        self._due = False
        """The loop has a call to empty the inbox coming: emitting need not wake it."""

    async def emit(self, event: Event) -> None:
        """Queue ``event`` for every listener; returns at once."""
        self.emit_nowait(event)

    def add_listener(self, listener: object) -> None:
        """One more run-local listener (an object with a ``litestream_event`` hookimpl)."""
        if self._own is None:
            from litestream_core import hookspecs

            self._own = pluggy.PluginManager("litestream")
            self._own.add_hookspecs(hookspecs)
        self._own.register(listener, name=f"run-listener-{id(listener)}")

    def has_listeners(self) -> bool:
        return bool(self._impls())

    def _impls(self) -> list[pluggy.HookImpl]:
        impls = list(self._pm.hook.litestream_event.get_hookimpls())
        if self._own is not None:
            impls += self._own.hook.litestream_event.get_hookimpls()
        return impls

    def emit_nowait(self, event: Event) -> None:
        """Queue ``event`` for every listener; safe from any thread, with or without a loop."""
        if not self._impls():
            return
        with self._lock:
            loop = self._start()
            self._pending += 1
            self._inbox.append(event)
            if self._due:
                return
            self._due = True
        loop.call_soon_threadsafe(self._empty_inbox)

    def _empty_inbox(self) -> None:
        with self._lock:
            events = list(self._inbox)
            self._inbox.clear()
            self._due = False
        for event in events:
            self._fan_out(event)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was delivered or abandoned; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or not self._idle.wait(left):
                    return self._pending == 0
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Drain, then stop the background threads; False if events were still pending."""
        drained = self.drain(timeout)
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
            self._inbox.clear()
            self._due = False
        if loop is None or thread is None:
            return drained
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
        listeners, self._listeners = self._listeners, {}
        for listener in listeners.values():
            if listener.thread is not None:
                listener.thread.stop()
        with self._idle:
            # Events of cancelled listeners are discarded, not waited for.
            self._pending = 0
            self._idle.notify_all()
        return drained

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=loop.run_forever, name="litestream-events", daemon=True
            )
            self._thread.start()
            self._loop = loop
        return self._loop

    def _done(self, count: int = 1) -> None:
        with self._idle:
            self._pending -= count
            if not self._pending:
                self._idle.notify_all()

    def _fan_out(self, event: Event) -> None:
        """On the dispatcher loop: queue ``event`` for each listener present now."""
        queued = 0
        for impl in self._impls():
            if impl.wrapper or impl.hookwrapper:
                continue
            listener = self._listeners.get(impl)
            if listener is None:
                listener = self._listeners[impl] = _Listener(impl)
            if listener.stuck or len(listener.events) >= self._max_queue:
                why = "is stuck" if listener.stuck else "is too far behind"
                self._log.warning(
                    f"drop:{listener.label}",
                    f"event listener {listener.label} {why}; dropped {event.name}",
                )
                continue
            listener.events.append(event)
            queued += 1
            if not listener.running:
                listener.running = True
                asyncio.get_running_loop().create_task(self._serve(listener))
        with self._lock:
            self._pending += queued
        self._done()

    async def _serve(self, listener: _Listener) -> None:
        plain = not inspect.iscoroutinefunction(listener.impl.function)
        try:
            while listener.events:
                if plain and not listener.stuck:
                    batch = _Batch(list(listener.events))
                    listener.events.clear()
                    await self._deliver_batch(listener, batch)
                    continue
                event = listener.events.popleft()
                try:
                    if listener.stuck:
                        self._dropped(listener, event)
                    else:
                        await self._deliver(listener, event)
                finally:
                    self._done()
        finally:
            listener.running = False

    def _dropped(self, listener: _Listener, event: Event) -> None:
        self._log.warning(
            f"drop:{listener.label}",
            f"event listener {listener.label} is stuck; dropped {event.name}",
        )

    async def _deliver_batch(self, listener: _Listener, batch: _Batch) -> None:
        """Hand ``batch`` to the listener's thread; abandon it if one call overruns."""
        if listener.thread is None:
            listener.thread = _Thread(f"litestream-event-{listener.label}")
        future = listener.thread.submit(lambda: self._run_batch(listener, batch))
        waiting = asyncio.wrap_future(future)
        try:
            await self._watch_batch(listener, batch, future, waiting)
        except asyncio.CancelledError:
            # The dispatcher is closing: what the thread has not delivered yet is
            # accounted for now, and the thread delivers nothing more of it.
            with batch.lock:
                batch.cut = True
                left = len(batch.events) - batch.delivered
            self._done(left)
            raise

    async def _watch_batch(
        self,
        listener: _Listener,
        batch: _Batch,
        future: concurrent.futures.Future[Any],
        waiting: asyncio.Future[Any],
    ) -> None:
        while not waiting.done():
            with batch.lock:
                started = batch.started
            left = self._timeout if started is None else started + self._timeout - time.monotonic()
            if left > 0:
                await asyncio.wait({waiting}, timeout=left)
                continue
            with batch.lock:
                if batch.started is None:
                    continue  # that call just finished
                batch.cut = True
                rest = batch.events[batch.delivered :]
            # The thread cannot be interrupted: skip this listener until it returns.
            listener.stuck = True
            self._log.warning(
                f"timeout:{listener.label}",
                f"event listener {listener.label} did not finish {rest[0].name} within "
                f"{self._timeout:g}s; abandoned",
            )
            for event in rest[1:]:
                self._dropped(listener, event)
            self._done(len(rest))
            future.add_done_callback(_unsticker(asyncio.get_running_loop(), listener))
            return

    def _run_batch(self, listener: _Listener, batch: _Batch) -> None:
        """On the listener's thread: each event in order, each call on its own."""
        impl = listener.impl
        for event in batch.events:
            with batch.lock:
                if batch.cut:
                    return
                batch.started = time.monotonic()
            try:
                kwargs = {name: event for name in impl.argnames if name == "event"}
                result = impl.function(**kwargs)
                if inspect.isawaitable(result) and self._loop is not None:
                    awaited = asyncio.wait_for(result, self._timeout)
                    asyncio.run_coroutine_threadsafe(awaited, self._loop).result()
            except Exception as exc:
                self._log.warning(
                    f"error:{listener.label}",
                    f"event listener {listener.label} failed on {event.name}: {describe(exc)}",
                )
            with batch.lock:
                if batch.cut:
                    return  # abandoned during this call: already accounted for
                batch.started = None
                batch.delivered += 1
            self._done()

    async def _deliver(self, listener: _Listener, event: Event) -> None:
        impl = listener.impl
        kwargs = {name: event for name in impl.argnames if name == "event"}
        deadline = time.monotonic() + self._timeout
        try:
            result = impl.function(**kwargs)
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self._log.warning(
                f"timeout:{listener.label}",
                f"event listener {listener.label} did not finish {event.name} within "
                f"{self._timeout:g}s; abandoned",
            )
        except Exception as exc:
            self._log.warning(
                f"error:{listener.label}",
                f"event listener {listener.label} failed on {event.name}: {describe(exc)}",
            )


def _unsticker(
    loop: asyncio.AbstractEventLoop, listener: _Listener
) -> Callable[[concurrent.futures.Future[Any]], None]:
    """A done-callback for a stuck call: the listener gets events again once it returns."""

    def unstick(_: concurrent.futures.Future[Any]) -> None:
        # After close() the loop is gone, and so is the listener's entry.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(setattr, listener, "stuck", False)

    return unstick
