"""Calling a blocking storage SDK from the async client: in a worker thread, its
errors translated, and its client object made once, on first use.

Go's clients call Init at the top of every method; ``LazySDK`` does the same here, so a
replica can be configured while its storage is unreachable and report that only when
used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from litestream_core.errors import ReplicaClientError

T = TypeVar("T")

Translate = Callable[[Exception], ReplicaClientError]
"""Turns an SDK (or socket) exception into the core error to raise instead."""


async def call_in_thread(call: Callable[..., T], translate: Translate, /, **kwargs: Any) -> T:
    """``call(**kwargs)`` in a worker thread; core errors pass, others are translated."""
    try:
        return await asyncio.to_thread(call, **kwargs)
    except ReplicaClientError:
        raise
    except Exception as exc:
        raise translate(exc) from exc


class LazySDK(Generic[T]):
    """An SDK object made by ``connect`` (in a worker thread) on first use, once even
    when several tasks ask at the same time, and refused once closed."""

    def __init__(self, scheme: str, connect: Callable[[], T], translate: Translate) -> None:
        self._scheme = scheme
        self._connect = connect
        self._translate = translate
        self._value: T | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def get(self) -> T:
        if self._value is not None:
            return self._value
        async with self._lock:
            if self._closed:
                raise ReplicaClientError(f"{self._scheme}: the replica client is closed", op="init")
            if self._value is None:
                self._value = await call_in_thread(self._connect, self._translate)
        return self._value

    def close(self) -> T | None:
        """Refuse later use; the object made so far, if any, for the caller to close."""
        self._closed = True
        value, self._value = self._value, None
        return value


async def finish_in_thread(call: Callable[..., T], /, *args: Any) -> T:
    """``call(*args)`` in a worker thread that a cancelled caller still waits for.

    A thread cannot be stopped; a caller that went on to clean up (delete a temporary
    file) while the thread still wrote or renamed would race it, and a file created
    after the clean-up would stay behind for good.
    """
    task = asyncio.ensure_future(asyncio.to_thread(call, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise
