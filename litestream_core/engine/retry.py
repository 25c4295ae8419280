"""Backoff for operations that fail transiently (storage hiccups, throttling).

One policy shape serves the replica's upload loop and restore's resumable downloads,
so "how long do we wait after the n-th failure" is decided in one place.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


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
