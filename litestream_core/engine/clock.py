"""The engine's one time source: the wall clock read once, then carried by a steady
clock (see docs/clocks.md for the choice and what it costs).

LTX header timestamps, compaction slots and retention ages all come from ``now()``.
A wall clock that an administrator, NTP or a VM resume steps by hours during a run
changes none of them: timestamps keep increasing at the real rate, no file looks
hours older than it is (so retention never deletes early), and no slot is skipped or
repeated. The process's first reading of the wall clock is trusted; when the system
clock later moves away from the engine clock, ``check_drift`` says so in the log once
per move, and a restart adopts the new time.

Tests install a clock over a fake wall clock with ``use``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from litestream_core.logs import format_seconds

log = logging.getLogger("litestream.clock")

DRIFT_WARNING = 60.0
"""Seconds the system clock may move away from the engine clock before it is logged."""

_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


def steady() -> float:
    """Seconds on a clock nothing steps that keeps counting while the machine sleeps:
    Linux's CLOCK_BOOTTIME (a laptop or VM suspended for an hour must not leave the
    engine an hour behind), elsewhere the monotonic clock."""
    return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else time.monotonic()


class EngineClock:
    """Wall time at creation, advanced by a steady clock (``steady``) from then on."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = steady,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._anchor = wall() - monotonic()
        self._reported_drift = 0.0

    def time(self) -> float:
        """Seconds since the epoch, like ``time.time()`` but never stepped."""
        return self._anchor + self._monotonic()

    def drift(self) -> float:
        """How far the system clock is now from the engine clock (positive: ahead)."""
        return self._wall() - self.time()

    def check_drift(self) -> None:
        """Log once each time the system clock moves ``DRIFT_WARNING`` further away."""
        drift = self.drift()
        if abs(drift - self._reported_drift) < DRIFT_WARNING:
            return
        self._reported_drift = drift
        if abs(drift) < DRIFT_WARNING:
            log.info("the system clock agrees with this process's time again",
                     extra={"drift": format_seconds(drift)})  # fmt: skip
            return
        log.warning(
            f"the system clock jumped {'ahead' if drift > 0 else 'back'}: LTX timestamps and "
            "retention keep to this process's own time until a restart",
            extra={"drift": format_seconds(drift)},
        )  # fmt: skip


_current = EngineClock()


def now() -> datetime:
    """The engine's current time, as an aware UTC datetime."""
    return datetime.fromtimestamp(_current.time(), UTC)


def now_ms() -> int:
    """The engine's current time in milliseconds since the epoch (LTX header time)."""
    return int(_current.time() * 1000)


def check_drift() -> None:
    _current.check_drift()


@contextlib.contextmanager
def use(clock: EngineClock) -> Iterator[EngineClock]:
    """Make ``clock`` the engine's time source for the duration (tests)."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
