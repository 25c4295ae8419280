"""Saying so when replication silently stops: a replica that does not advance, a
database file that is not there.

A storage call that hangs raises nothing, and a missing database fails nothing: the
replicator just waits. The watchdog looks once per ``check_interval`` (on the loop's
monotonic clock, so a wall-clock jump changes nothing) and reports through events,
which the log and the metrics listen to:

* ``ReplicaLag`` while the replica is behind, and once when it has caught up;
* ``ReplicaStalled`` once the replica has been behind without advancing for
  ``stall_warning`` seconds, then again at doubling intervals, and ``ReplicaCaughtUp``
  when it holds every local commit again;
* ``DatabaseMissing`` at start and at doubling intervals while the file does not
  exist, ``DatabaseAppeared`` when it does.

It also sweeps abandoned temporary files off the replica once, at start.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from litestream_core.client import SupportsTempCleanup
from litestream_core.engine import clock as engine_clock
from litestream_core.engine.ticker import SharedTicker
from litestream_core.errors import describe
from litestream_core.events import (
    DatabaseAppeared,
    DatabaseMissing,
    Event,
    ReplicaCaughtUp,
    ReplicaLag,
    ReplicaStalled,
)

if TYPE_CHECKING:
    from litestream_core.engine.db import DB
    from litestream_core.engine.replica import Replica

log = logging.getLogger("litestream.watchdog")

CHECK_INTERVAL = 1.0
"""Seconds between looks; also the resolution of the lag measurement."""
MAX_REPEAT = 3600.0
"""The longest gap between two warnings about one ongoing problem."""
MISSING_REPEAT = 60.0
"""Seconds from the first "database missing" warning to the second (then doubling)."""


async def sweep_temp_files(db_path: str, client: object) -> None:
    """Remove what killed writers left on the replica, if its backend can tell; a failure
    is logged, never raised (it must not keep replication from starting)."""
    if not isinstance(client, SupportsTempCleanup):
        return
    try:
        removed = await client.remove_stale_temp_files()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("could not remove abandoned temporary files from the replica",
                    extra={"db": db_path, "error": describe(exc)})  # fmt: skip
        return
    if removed:
        log.info("removed abandoned temporary files from the replica",
                 extra={"db": db_path, "files": removed})  # fmt: skip


class _Repeater:
    """When to warn about one ongoing problem: at once, then at doubling intervals."""

    def __init__(self, first_gap: float) -> None:
        self._first_gap = first_gap
        self.count = 0
        self._next = 0.0

    def due(self, now: float) -> bool:
        if self.count and now < self._next:
            return False
        gap = min(self._first_gap * 2**self.count, MAX_REPEAT)
        self.count += 1
        self._next = now + gap
        return True


class Watchdog:
    """Watches one database and its replica (if any); ``run()`` until cancelled."""

    def __init__(
        self,
        db: DB,
        replica: Replica | None,
        *,
        emit: Callable[[Event], None] | None = None,
        check_interval: float = CHECK_INTERVAL,
        missing_repeat: float = MISSING_REPEAT,
        watch_file: bool = True,
    ) -> None:
        """``watch_file``: also watch the database file (False for the watchdogs of a
        database's second and later replicas: one warning per missing file is enough)."""
        self.db = db
        self.replica = replica
        self.watch_file = watch_file
        self._emit = emit
        self.check_interval = check_interval
        self._missing_repeat = missing_repeat
        self._missing_since: float | None = None
        self._missing_warnings: _Repeater | None = None
        # (TXID, when the database was first seen at it): the commits the replica lacks.
        self._commits: collections.deque[tuple[int, float]] = collections.deque()
        self._replica_txid: int | None = None
        self._last_advance = 0.0
        self._stall: _Repeater | None = None
        self._stall_start = 0.0
        self._reported: tuple[int, int] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if self.replica is not None:
            await sweep_temp_files(str(self.db.path), self.replica.client)
        if self.check_interval != CHECK_INTERVAL:
            while True:
                self.check(loop.time())
                await asyncio.sleep(self.check_interval)
        # One timer for every watchdog of the loop: a thousand databases are a
        # thousand checks per second, not a thousand tasks waking each second.
        self.check(loop.time())
        ticker = SharedTicker.of(loop, "watchdogs", CHECK_INTERVAL, engine_clock.check_drift)
        ticker.add(self, self._tick)
        try:
            await loop.create_future()  # until cancelled
        finally:
            ticker.discard(self)

    def _tick(self, now: float) -> None:
        try:
            self.check(now, drift_checked=True)
        except Exception as exc:  # one database's trouble must not blind the rest
            log.warning("watchdog check failed", extra={"db": str(self.db.path),
                                                        "error": describe(exc)})  # fmt: skip

    def check(self, now: float, *, drift_checked: bool = False) -> None:
        """One look at the database file and the replica's position at loop time ``now``."""
        if not drift_checked:
            engine_clock.check_drift()
        if self.watch_file:
            self._check_file(now)
        if self.replica is not None:
            self._check_replica(self.replica, now)

    # -- the database file -------------------------------------------------------------

    def _check_file(self, now: float) -> None:
        path = str(self.db.path)
        if not self.db.path.exists():
            if self._missing_since is None:
                self._missing_since = now
                self._missing_warnings = _Repeater(self._missing_repeat)
            assert self._missing_warnings is not None
            if self._missing_warnings.due(now):
                self._send(DatabaseMissing(db_path=path, missing_seconds=now - self._missing_since))
            return
        if self._missing_since is not None:
            self._send(DatabaseAppeared(db_path=path, missing_seconds=now - self._missing_since))
            self._missing_since = self._missing_warnings = None

    # -- the replica -------------------------------------------------------------------

    def _check_replica(self, replica: Replica, now: float) -> None:
        db_txid = self.db.pos().txid
        known = replica.acknowledged_txid
        if known is None:  # not reconciled yet, or looking again after a failure
            known = self._replica_txid if self._replica_txid is not None else 0
        if known != self._replica_txid:
            self._replica_txid = known
            self._last_advance = now
        if self._commits and db_txid < self._commits[-1][0]:
            self._commits.clear()  # the database went back (rebased): start over
        if db_txid > known and (not self._commits or db_txid > self._commits[-1][0]):
            self._commits.append((db_txid, now))
        while self._commits and self._commits[0][0] <= known:
            self._commits.popleft()

        path = str(self.db.path)
        behind = db_txid > known
        lag = now - self._commits[0][1] if behind and self._commits else 0.0
        if behind or self._reported != (known, db_txid):
            self._reported = (known, db_txid)
            self._send(ReplicaLag(db_path=path, replica=replica.name, lag_seconds=lag,
                                  replica_txid=known, db_txid=db_txid))  # fmt: skip
        if not behind:
            self._last_advance = now
            if self._stall is not None:
                self._send(ReplicaCaughtUp(db_path=path, replica=replica.name, txid=known,
                                           stalled_seconds=now - self._stall_start))  # fmt: skip
                self._stall = None
            return
        stalled = now - self._last_advance
        limit = replica.settings.stall_warning
        if limit <= 0 or stalled < limit:
            return
        if self._stall is None:
            self._stall = _Repeater(limit)
            self._stall_start = self._last_advance
        if self._stall.due(now):
            self._send(
                ReplicaStalled(
                    db_path=path, replica=replica.name, stalled_seconds=stalled,
                    lag_seconds=lag, replica_txid=known, db_txid=db_txid,
                    warning=self._stall.count,
                )
            )  # fmt: skip

    def _send(self, event: Event) -> None:
        if self._emit is None:
            return
        try:
            self._emit(event)
        except Exception:  # a listener must never stop the watchdog
            log.exception("event listener failed", extra={"event": event.name})
