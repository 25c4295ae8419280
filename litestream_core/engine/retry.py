"""Backoff for operations that fail transiently (storage hiccups, throttling).

One policy object is shared by the replica loop, final shutdown syncs and restore
downloads, so "how long do we wait after the n-th failure" is decided in one place.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from litestream_core.errors import TransientReplicaError

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``initial * factor**(attempt-1)``, capped."""

    initial: float = 0.25
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th consecutive failure (1-based)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        return base * (1.0 + random.uniform(-self.jitter, self.jitter))


async def retry_transient(
    op: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    retry_on: tuple[type[BaseException], ...] = (TransientReplicaError, ConnectionError),
) -> T:
    """Run ``op`` up to ``attempts`` times, sleeping between transient failures.

    Only errors that may go away by themselves are retried; a missing file or a
    refused credential fails at once so the user hears about it immediately.
    """
    attempt = 1
    while True:
        try:
            return await op()
        except retry_on:
            if attempt >= attempts:
                raise
            await asyncio.sleep(backoff.delay(attempt))
            attempt += 1
