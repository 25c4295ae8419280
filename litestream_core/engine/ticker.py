"""One timer per event loop for many small periodic checks (one per database).

A thousand databases each with a timer of their own are a thousand task wake-ups a
second, each with its future, its timer handle and its trip through the loop's heap;
most of that is overhead around a check of a few syscalls. A ``SharedTicker`` wakes
once a period and runs every registered check in turn, yielding to the loop between
slices so that ten thousand checks do not hold other work (a commit's sync, an
upload) up for the whole pass.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Hashable

from litestream_core.errors import describe

log = logging.getLogger("litestream.db")

SLICE = 256
"""Checks run back to back before the ticker lets the loop run other callbacks."""

Check = Callable[[float], None]
"""Called with the loop time of the tick."""


class SharedTicker:
    """The loop's timer named ``name``: every ``period`` seconds, ``prelude`` once and
    then each check, in the order they were added. Runs only while it has checks."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        name: str,
        period: float,
        prelude: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self.name = name
        self.period = period
        self._prelude = prelude
        self._checks: dict[Hashable, Check] = {}
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        """Passes made so far (tests count them)."""

    @classmethod
    def of(
        cls,
        loop: asyncio.AbstractEventLoop,
        name: str,
        period: float,
        prelude: Callable[[], None] | None = None,
    ) -> SharedTicker:
        """The loop's ticker of that name, made on first use."""
        per_loop = _TICKERS.setdefault(loop, {})
        ticker = per_loop.get(name)
        if ticker is None:
            ticker = per_loop[name] = cls(loop, name, period, prelude)
        return ticker

    def __len__(self) -> int:
        return len(self._checks)

    def __contains__(self, key: object) -> bool:
        return key in self._checks

    def add(self, key: Hashable, check: Check) -> None:
        """Run ``check`` at every tick until ``discard(key)``."""
        self._checks[key] = check
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name=self.name)

    def discard(self, key: Hashable) -> None:
        self._checks.pop(key, None)
        if not self._checks and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        # A fixed rate, as a ticker: a long pass does not push every later tick back.
        due = self._loop.time()
        while True:
            due = max(due + self.period, self._loop.time())
            await asyncio.sleep(due - self._loop.time())
            self.ticks += 1
            if self._prelude is not None:
                self._prelude()
            now = self._loop.time()
            for i, (key, check) in enumerate(list(self._checks.items())):
                if i and not i % SLICE:
                    await asyncio.sleep(0)
                if self._checks.get(key) is not check:
                    continue  # removed (or replaced) while the loop ran other work
                try:
                    check(now)
                except Exception as exc:  # one database's trouble must not blind the rest
                    log.warning(f"{self.name}: a periodic check failed",
                                extra={"key": str(key), "error": describe(exc)})  # fmt: skip


_TICKERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedTicker]] = (
    weakref.WeakKeyDictionary()
)
