"""The engine clock: wall time once, then a steady clock; drift is told once per move."""

from __future__ import annotations

import logging

from litestream_core.engine import clock
from litestream_core.engine.clock import EngineClock


def test_time_follows_the_steady_clock_not_the_wall() -> None:
    wall, steady = [1_000_000.0], [50.0]
    c = EngineClock(wall=lambda: wall[0], monotonic=lambda: steady[0])
    assert c.time() == 1_000_000.0
    steady[0] += 2.5
    wall[0] -= 3 * 3600  # stepped back three hours
    assert c.time() == 1_000_002.5
    assert c.drift() == -3 * 3600 - 2.5
    with clock.use(c):
        assert clock.now_ms() == 1_000_002_500
        assert clock.now().timestamp() == 1_000_002.5


def test_drift_is_logged_once_per_move(caplog) -> None:
    wall, steady = [0.0], [0.0]
    c = EngineClock(wall=lambda: wall[0], monotonic=lambda: steady[0])
    with caplog.at_level(logging.INFO, logger="litestream.clock"):
        c.check_drift()
        wall[0] = 30.0  # within the tolerance: nothing said
        c.check_drift()
        wall[0] = 7200.0
        for _ in range(3):
            c.check_drift()
        wall[0] = 1.0
        c.check_drift()
    ahead, back = caplog.records
    assert "jumped ahead" in ahead.getMessage() and ahead.drift == "7200.000s"
    assert "agrees with this process's time again" in back.getMessage()


def test_the_steady_clock_never_goes_back() -> None:
    readings = [clock.steady() for _ in range(1000)]
    assert readings == sorted(readings)
