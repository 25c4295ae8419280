"""The watchdog's decisions, driven with made-up times: when a stalled replica is
reported (once, then at doubling intervals), how its lag is measured, when it counts
as recovered, and the same for a database file that is missing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from litestream_core.engine.dbtypes import Pos
from litestream_core.engine.replica import ReplicaSettings
from litestream_core.engine.watchdog import MAX_REPEAT, Watchdog
from litestream_core.events import (
    DatabaseAppeared,
    DatabaseMissing,
    Event,
    ReplicaCaughtUp,
    ReplicaLag,
    ReplicaStalled,
)


@dataclass
class FakeDB:
    path: Path
    txid: int = 0

    def pos(self) -> Pos:
        return Pos(self.txid, 0)


@dataclass
class FakeReplica:
    acknowledged_txid: int | None = 0
    name: str = "file:///r"
    settings: ReplicaSettings = field(default_factory=lambda: ReplicaSettings(stall_warning=10))
    client: object = None


def watch(tmp_path: Path, *, exists: bool = True) -> tuple[Watchdog, FakeDB, FakeReplica, list]:
    path = tmp_path / "app.db"
    if exists:
        path.touch()
    events: list[Event] = []
    db, replica = FakeDB(path), FakeReplica()
    return Watchdog(db, replica, emit=events.append, missing_repeat=60), db, replica, events  # type: ignore[arg-type]


def of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_stall_is_reported_once_then_at_doubling_intervals_then_recovered(tmp_path) -> None:
    dog, db, replica, events = watch(tmp_path)
    db.txid = replica.acknowledged_txid = 5
    dog.check(0.0)
    db.txid = 6  # a commit the replica does not get
    for t in range(1, 80):
        dog.check(float(t))
    stalls = of(events, ReplicaStalled)
    assert [e.stalled_seconds for e in stalls] == [10.0, 20.0, 40.0]  # last caught up at 0 s
    first = stalls[0]
    assert (first.replica_txid, first.db_txid, first.warning) == (5, 6, 1)
    assert first.lag_seconds == 9.0  # the commit was first seen at 1 s
    assert not of(events, ReplicaCaughtUp)

    replica.acknowledged_txid = 6
    dog.check(80.0)
    dog.check(81.0)
    (caught_up,) = of(events, ReplicaCaughtUp)
    assert caught_up.txid == 6 and caught_up.stalled_seconds == 80.0
    assert of(events, ReplicaLag)[-1].lag_seconds == 0.0


def test_progress_resets_the_stall_clock_and_failures_keep_the_known_position(tmp_path) -> None:
    dog, db, replica, events = watch(tmp_path)
    db.txid, replica.acknowledged_txid = 10, 1
    for t in range(0, 30):
        if t % 5 == 0:  # advancing slowly: behind the whole time, never stalled
            replica.acknowledged_txid = min(9, 1 + t // 5)
        dog.check(float(t))
    assert not of(events, ReplicaStalled)
    replica.acknowledged_txid = None  # looking the position up again after a failure
    for t in range(30, 45):
        dog.check(float(t))
    (stall,) = of(events, ReplicaStalled)
    assert stall.replica_txid == 6 and stall.db_txid == 10  # the last known position


def test_no_events_while_caught_up_and_idle(tmp_path) -> None:
    dog, db, replica, events = watch(tmp_path)
    db.txid = replica.acknowledged_txid = 3
    for t in range(100):
        dog.check(float(t))
    assert len(events) == 1 and isinstance(events[0], ReplicaLag)


def test_stall_warning_zero_turns_warnings_off(tmp_path) -> None:
    dog, db, replica, events = watch(tmp_path)
    replica.settings = ReplicaSettings(stall_warning=0)
    db.txid = 4
    for t in range(0, 5000, 10):
        dog.check(float(t))
    assert not of(events, ReplicaStalled)
    assert of(events, ReplicaLag)[-1].lag_seconds == 4990.0  # the metric still rises


def test_warnings_are_never_further_apart_than_an_hour(tmp_path) -> None:
    dog, db, _, events = watch(tmp_path)
    db.txid = 1
    for t in range(0, 5 * 86400, 60):
        dog.check(float(t))
    times = [e.stalled_seconds for e in of(events, ReplicaStalled)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) <= MAX_REPEAT + 60 and len(times) > 100


def test_missing_database_is_reported_at_once_then_slowly_then_its_appearance(tmp_path) -> None:
    dog, db, _, events = watch(tmp_path, exists=False)
    for t in range(0, 400):
        dog.check(float(t))
    missing = of(events, DatabaseMissing)
    assert [e.missing_seconds for e in missing] == [0.0, 60.0, 180.0]
    db.path.touch()
    dog.check(400.0)
    dog.check(401.0)
    (appeared,) = of(events, DatabaseAppeared)
    assert appeared.missing_seconds == 400.0


def test_watchdogs_of_one_loop_share_one_timer(tmp_path) -> None:
    """A thousand databases must not be a thousand tasks waking every second."""
    import asyncio

    async def main() -> None:
        dogs = []
        for name in "abc":
            (tmp_path / name).mkdir()
            dogs.append(watch(tmp_path / name)[0])
        running = [asyncio.create_task(dog.run()) for dog in dogs]
        await asyncio.sleep(0.05)
        timers = [t for t in asyncio.all_tasks() if t.get_name() == "watchdogs"]
        assert len(timers) == 1
        running[0].cancel()
        await asyncio.sleep(0)
        assert not timers[0].done()  # the other two still watch
        for task in running[1:]:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.sleep(0)
        assert timers[0].done()  # nothing left to watch: no timer left behind

    asyncio.run(main())


def test_the_shared_timer_checks_every_watchdog(tmp_path) -> None:
    import asyncio

    async def main() -> None:
        dog, db, replica, events = watch(tmp_path)
        db.txid, replica.acknowledged_txid = 3, 1
        task = asyncio.create_task(dog.run())
        await asyncio.sleep(2.3)  # the look at start, then two ticks of the shared timer
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert len(of(events, ReplicaLag)) >= 3

    asyncio.run(main())
