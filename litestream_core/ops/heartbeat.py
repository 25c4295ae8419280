"""Heartbeat pings: a GET to ``heartbeat-url`` while every database replicates.

A dead-man's switch (healthchecks.io, Cronitor, ...) alerts when the pings stop, so
a ping must mean "everything is backed up", not "the process is alive": it is sent
only when every running database had a successful replica sync within the interval,
and at most once per interval. As in Go, the condition is checked every 15 seconds,
a request gets 30 seconds, and any 2xx answer counts; a failed ping is logged and the
next one waits a whole interval, so a struggling endpoint is not hammered.

The health comes from each replica's ``last_synced_at``, which every upload pass
sets, idle or not; an idle database produces no engine events, so a listener fed by
events alone could not tell "idle and healthy" from "stuck".
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from litestream_core.errors import describe

if TYPE_CHECKING:
    from litestream_core.engine.store import Store

log = logging.getLogger("litestream.heartbeat")

CHECK_INTERVAL = 15.0
REQUEST_TIMEOUT = 30.0
MIN_INTERVAL = 60.0
"""Go refuses a shorter ``heartbeat-interval`` (the config check enforces it)."""


class Heartbeat:
    """Pings ``url`` every ``interval`` seconds while ``store`` is healthy."""

    def __init__(
        self,
        url: str,
        interval: float,
        store: Store,
        *,
        check_interval: float = CHECK_INTERVAL,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.url = url
        self.interval = interval
        self.store = store
        self.check_interval = check_interval
        self.timeout = timeout
        self.last_ping: float | None = None
        """``time.monotonic()`` of the last attempt, successful or not."""

    def healthy(self) -> bool:
        """Every replica of every running database synced within the interval (and one
        database runs)."""
        since = datetime.now(UTC) - timedelta(seconds=self.interval)
        running = [e for e in self.store.entries if e.opened]
        if not running:
            return False
        for entry in running:
            if not entry.replicas:
                return False
            for replica in entry.replicas:
                synced = replica.last_synced_at
                if synced is None or synced < since:
                    return False
        return True

    async def run(self) -> None:
        """Check every ``check_interval`` until cancelled; never raises."""
        log.info("heartbeat enabled: pinging while every database replicates",
                 extra={"url": self.url, "interval": f"{self.interval:g}s"})  # fmt: skip
        while True:
            await asyncio.sleep(self.check_interval)
            await self.check()

    async def check(self) -> bool:
        """Ping if due and healthy; True if a ping got a 2xx answer."""
        now = time.monotonic()
        if self.last_ping is not None and now - self.last_ping < self.interval:
            return False
        if not self.healthy():
            return False
        self.last_ping = now  # before the request: a failing endpoint waits an interval
        try:
            status = await asyncio.to_thread(self._get)
        except Exception as exc:
            log.error("heartbeat ping failed", extra={"url": self.url, "error": describe(exc)})
            return False
        if not 200 <= status < 300:
            log.error("heartbeat ping failed", extra={"url": self.url, "status": status})
            return False
        log.debug("heartbeat ping sent", extra={"url": self.url})
        return True

    def _get(self) -> int:
        """One GET (redirects followed), on a worker thread: the standard library's
        client is plenty for one request a minute, and costs no dependency."""
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as exc:  # a non-2xx answer, not a failure to connect
            return exc.code
