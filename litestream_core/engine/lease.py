"""One writer per replica path: a lease on the replica, renewed while replicating.

Two replicators on one replica path (a rolling deploy, a restarted pod, a copied config)
would interleave their files. Before its first upload a replicator takes the lease, it
renews it while it runs, and it writes nothing once it cannot prove it still holds it.

The lease is a sequence of small objects at level ``LEASE_LEVEL`` (11: Go lists levels
0 to 9 only, and our restore, follow mode and VFS read 0 to 9 as well), each a valid LTX
file holding JSON (``identity.json_ltx``), named by a sequence number as its TXID. The
newest number is the current lease. Taking, renewing and releasing all write the next
number with the backend's one atomic primitive, ``create_exclusive``: of two writers of
number ``n + 1`` exactly one succeeds, which is a compare-and-swap on "the lease is still
at ``n``" that needs neither ETags nor a lock file, so file and SFTP replicas get it from
a rename that refuses an existing target. Old numbers are deleted behind the newest two.

Who holds it. A record names its holder (token, host, pid, database, since when) and
says whether it was released. A lease is free when there is none, when its holder
released it (a clean stop), when its holder is a dead process on this host, or when it
was not renewed for ``ttl`` seconds as measured here: the number has stayed the same
for ``ttl`` on this process's monotonic clock. Clocks of other hosts are only shown,
never trusted. The holder stops writing ``ttl * VALID_FRACTION`` after the start of
its last successful renewal, well before anyone can observe the number unchanged for a
whole ``ttl``; so an observer that takes a stale lease over never overlaps a holder
that still writes, as long as clocks run at about the same rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from litestream_core.client import (
    Capability,
    LTXFileInfo,
    ReplicaClient,
    SupportsExclusiveCreate,
)
from litestream_core.engine.identity import json_ltx, json_of_ltx, read_small
from litestream_core.errors import (
    IdentityError,
    LeaseExistsError,
    LeaseNotHeldError,
    LTXError,
    ObjectExistsError,
    ReplicaClientError,
)
from litestream_core.logs import format_seconds

log = logging.getLogger("litestream.lease")

LEASE_LEVEL = 11
"""Above the identity (10) and Go's snapshot level (9): no reader of data lists it."""
DEFAULT_TTL = 30.0
RENEW_FRACTION = 0.25
"""Renewed every quarter of the TTL: one failed renewal is survived."""
VALID_FRACTION = 0.6
"""The holder writes for this part of the TTL after the start of its last renewal."""
KEEP = 2
"""Lease numbers kept on the replica (the newest and the one before)."""
_FORMAT = 1


def supports_lease(client: ReplicaClient) -> bool:
    return Capability.CONDITIONAL_WRITES in client.capabilities and isinstance(
        client, SupportsExclusiveCreate
    )


@dataclass(frozen=True)
class LeaseRecord:
    """What one lease object says."""

    token: str
    """Random per acquisition: tells this holder from a restart of the same database."""
    host: str
    pid: int
    database: str
    since_ms: int
    """When the holder took the lease (wall clock, for people)."""
    renewed_ms: int
    ttl: float
    database_id: str | None = None
    released: bool = False

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.since_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.database} on host {self.host}, pid {self.pid}, since {since}"

    def encode(self, seq: int) -> bytes:
        body: dict[str, object] = asdict(self)
        body["litestream_replica_lease"] = _FORMAT
        return json_ltx(body, seq, self.renewed_ms)

    @classmethod
    def decode(cls, data: bytes) -> LeaseRecord:
        body = json_of_ltx(data)
        if not isinstance(body, dict) or body.get("litestream_replica_lease") != _FORMAT:
            raise ValueError("not a lease object of a known format")
        return cls(
            token=str(body["token"]), host=str(body["host"]), pid=int(body["pid"]),
            database=str(body["database"]), since_ms=int(body["since_ms"]),
            renewed_ms=int(body["renewed_ms"]), ttl=float(body["ttl"]),
            database_id=str(body["database_id"]) if body.get("database_id") else None,
            released=bool(body.get("released")),
        )  # fmt: skip


@dataclass
class _Seen:
    seq: int
    at: float
    """Monotonic time this process first saw ``seq`` as the newest number."""


class Lease:
    """One replicator's lease on one replica.

    ``attempt()`` takes the lease if it is free or renews it if due, and says whether
    this process holds it now; ``held`` says whether it may write at this instant.
    Storage errors while renewing are logged, not raised: the lease then lapses by
    itself, and writes stop.
    """

    def __init__(
        self,
        client: ReplicaClient,
        *,
        database: str,
        where: str,
        ttl: float = DEFAULT_TTL,
        fail_fast: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(client, SupportsExclusiveCreate):
            raise TypeError(f"{client.type} replicas cannot hold a lease")
        self.client = client
        self._create = client.create_exclusive
        self.database = database
        self.where = where
        self._fields = {"db": database, "url": where}
        """Log fields: ``replica=`` elsewhere names the replica, not its URL."""
        self.ttl = ttl
        self.fail_fast = fail_fast
        self._clock = clock
        self.database_id: str | None = None
        """Written into renewals once the replica identity is claimed."""
        self._mine: LeaseRecord | None = None
        self._seq = 0
        self._renewed_at = float("-inf")
        self._seen: _Seen | None = None
        self._logged_at = float("-inf")
        self._contended: LeaseRecord | None = None
        self.previous: LeaseRecord | None = None
        """The holder this process saw holding the lease (unreleased, alive or not)
        before it took it; None if it found the lease new or released. Only then may it
        take over a replica whose identity names another database."""
        self._lock = asyncio.Lock()
        self.acquired = 0
        """How many times this process took the lease (a new take means look again)."""

    # -- state -------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        """Whether this process can prove it holds the lease right now."""
        return self._mine is not None and (
            self._clock() - self._renewed_at < self.ttl * VALID_FRACTION
        )

    @property
    def owned(self) -> bool:
        """Whether this process took the lease and has not lost or released it."""
        return self._mine is not None

    def check(self) -> None:
        """Raise LeaseNotHeldError unless ``held``: called before every write."""
        if not self.held:
            raise LeaseNotHeldError(
                f"replica {self.where}: this replicator cannot prove it still holds the "
                "lease; not writing"
            )

    @property
    def renew_interval(self) -> float:
        return self.ttl * RENEW_FRACTION

    @property
    def renewal_due(self) -> bool:
        """Whether the next ``attempt`` would write (take or renew) the lease: a write
        made without one first (the monitor's direct upload) must not be due one."""
        return not self.held or self._clock() - self._renewed_at >= self.renew_interval

    # -- one step ----------------------------------------------------------------------

    async def attempt(self) -> bool:
        """Take or renew the lease as due; True if this process holds it afterwards.

        Raises LeaseExistsError with ``fail_fast`` when a live replicator holds it.
        """
        async with self._lock:
            return await self._attempt()

    async def _attempt(self) -> bool:
        if self._mine is not None:
            if self._clock() - self._renewed_at >= self.renew_interval:
                await self._renew()
            if self._mine is not None:
                return self.held
        newest = await self._newest()
        if newest is None:
            return await self._take(1)
        seq, record = newest
        now = self._clock()
        if self._seen is None or self._seen.seq != seq:
            self._seen = _Seen(seq, now)
        if record is not None and not record.released:
            self._contended = record
        if record is None or record.released or _dead_here(record):
            return await self._take(seq + 1)
        ttl = max(self.ttl, record.ttl)  # the holder's own TTL if longer (it writes on)
        if now - self._seen.at >= ttl:
            log.warning("the lease was not renewed in time; taking it over",
                        extra={**self._fields, "holder": record.describe(),
                               "ttl": format_seconds(ttl)})  # fmt: skip
            return await self._take(seq + 1)
        self._waiting(record)
        return False

    async def contended(self) -> bool:
        """Whether another replicator holds the lease or left it unreleased (read only)."""
        if self._mine is not None:
            return False
        newest = await self._newest()
        record = newest[1] if newest is not None else None
        if record is None or record.released:
            return False
        self._contended = record
        return True

    async def refuse_if_held(self) -> None:
        """With ``fail_fast``, raise LeaseExistsError if a live replicator holds the
        lease, reading only (before the database opens)."""
        if not self.fail_fast or not await self.contended():
            return
        holder = self._contended
        if holder is not None and not _dead_here(holder):
            self._waiting(holder)

    def _waiting(self, holder: LeaseRecord) -> None:
        fresh = time.time() * 1000 - holder.renewed_ms < holder.ttl * 1000
        if self.fail_fast and fresh:
            raise LeaseExistsError(
                f"replica {self.where} is leased by {holder.describe()}; not replicating "
                f"{self.database} to it",
                hint="stop that replicator or give this database its own replica path",
            )
        now = self._clock()
        if now - self._logged_at >= max(self.ttl, 5.0):
            self._logged_at = now
            log.warning(
                "waiting for the lease held by another replicator (taken over if not renewed "
                "within ttl)", extra={**self._fields, "holder": holder.describe(),
                                      "ttl": format_seconds(self.ttl)},
            )  # fmt: skip

    async def _newest(self) -> tuple[int, LeaseRecord | None] | None:
        """The newest lease number and its record (None if unreadable), or None."""
        for _ in range(3):
            infos = [info async for info in self.client.ltx_files(LEASE_LEVEL)]
            if not infos:
                return None
            seq = max(info.max_txid for info in infos)
            try:
                data = await read_small(self.client, LEASE_LEVEL, seq)
            except IdentityError:
                return seq, None
            if data is None:
                continue  # deleted since the listing: a renewal moved on, list again
            try:
                return seq, LeaseRecord.decode(data)
            except (LTXError, ValueError, KeyError, TypeError):
                break
        log.warning("the newest lease object is unreadable; taking it over",
                    extra=self._fields)  # fmt: skip
        return seq, None

    async def _take(self, seq: int) -> bool:
        now_ms = int(time.time() * 1000)
        record = LeaseRecord(
            token=os.urandom(8).hex(), host=socket.gethostname(), pid=os.getpid(),
            database=self.database, since_ms=now_ms, renewed_ms=now_ms, ttl=self.ttl,
            database_id=self.database_id,
        )  # fmt: skip
        started = self._clock()
        try:
            await self._create(LEASE_LEVEL, seq, seq, record.encode(seq))
        except ObjectExistsError:
            return False  # someone else moved first: look again next time
        # A slow taker can recreate a number a renewal already deleted (only numbers
        # below a newer one are deleted): the newest number decides.
        newest = await self._newest()
        if newest is not None and newest[0] > seq:
            with contextlib.suppress(ReplicaClientError):
                await self.client.delete_ltx_files([_info(seq)])
            return False
        self._mine, self._seq, self._renewed_at = record, seq, started
        self.previous, self._contended = self._contended, None
        self.acquired += 1
        log.info("lease taken", extra={**self._fields, "holder": record.describe()})
        return True

    async def _renew(self) -> None:
        assert self._mine is not None
        mine = replace(self._mine, renewed_ms=int(time.time() * 1000),
                       database_id=self.database_id or self._mine.database_id)  # fmt: skip
        seq = self._seq + 1
        started = self._clock()
        try:
            await self._create(LEASE_LEVEL, seq, seq, mine.encode(seq))
        except ObjectExistsError:
            if not await self._is_mine(seq):
                self._lost(seq)
                return
            started = self._renewed_at  # our earlier attempt landed: when is unknown
        except ReplicaClientError as exc:
            log.warning("lease renewal failed",
                        extra={**self._fields, "error": exc.one_line()})  # fmt: skip
            return
        self._mine, self._seq, self._renewed_at = mine, seq, max(started, self._renewed_at)
        if seq > KEEP:
            with contextlib.suppress(ReplicaClientError):
                await self.client.delete_ltx_files([_info(seq - KEEP)])

    async def _is_mine(self, seq: int) -> bool:
        try:
            data = await read_small(self.client, LEASE_LEVEL, seq)
            return data is not None and self._mine is not None and (
                LeaseRecord.decode(data).token == self._mine.token
            )  # fmt: skip
        except (ReplicaClientError, IdentityError, LTXError, ValueError, KeyError, TypeError):
            return False

    def _lost(self, seq: int) -> None:
        log.error("lost the lease to another replicator; writing stops",
                  extra={**self._fields, "lease": seq})  # fmt: skip
        self._mine = None
        self._seen = None

    async def release(self, timeout: float | None = None) -> None:
        """Mark the lease released (a clean stop), so the next replicator need not wait.

        ``timeout`` bounds the write: on hung storage the lease is left to expire
        rather than hold a shutdown (the request may still land later, harmlessly).
        """
        if self._mine is None:
            return
        mine = replace(self._mine, renewed_ms=int(time.time() * 1000), released=True)
        self._mine = None
        seq = self._seq + 1
        try:
            await asyncio.wait_for(self._create(LEASE_LEVEL, seq, seq, mine.encode(seq)), timeout)
        except (ReplicaClientError, TimeoutError) as exc:
            error = exc.one_line() if isinstance(exc, ReplicaClientError) else (
                f"no answer within {format_seconds(timeout or 0)}"
            )  # fmt: skip
            log.warning("lease not released; it expires after its ttl",
                        extra={**self._fields, "ttl": format_seconds(self.ttl),
                               "error": error})  # fmt: skip
            return
        log.info("lease released", extra=self._fields)


def _dead_here(record: LeaseRecord) -> bool:
    """A holder on this host whose process is gone (a crash, then a restart)."""
    if record.host != socket.gethostname() or record.pid == os.getpid():
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _info(seq: int) -> LTXFileInfo:
    return LTXFileInfo(LEASE_LEVEL, seq, seq, 0, datetime.fromtimestamp(0, UTC))
