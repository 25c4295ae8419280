"""The bridge from SQLite's synchronous VFS callbacks to the asynchronous ReplicaClient.

Every ReplicaClient is async, and an APSW callback is a plain function called on
whatever thread runs the query. One event loop in one daemon thread serves every
replica database of the process: callbacks hand it a coroutine and wait for the result
(the wait releases the GIL, so the loop runs meanwhile). Pollers run on it as tasks.
A callback made on a thread that itself runs an event loop works the same way, since
the replica's loop is never that one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def loop() -> asyncio.AbstractEventLoop:
    """The process's replica loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            ready = threading.Event()
            new = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(new)
                new.call_soon(ready.set)
                new.run_forever()

            _thread = threading.Thread(target=run, name="litestream-vfs", daemon=True)
            _thread.start()
            ready.wait()
            _loop = new
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule ``coro`` on the replica loop."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the replica loop and wait for its result (from any other thread)."""
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("replica I/O requested from the replica loop itself")
    if sys.is_finalizing():  # the loop's daemon thread is frozen: waiting would hang
        coro.close()
        raise RuntimeError("the interpreter is shutting down")
    return submit(coro).result(timeout)
