"""One writer per replica path on a file replica (real processes; engine unit tests below)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from litestream_core.engine.lease import LEASE_LEVEL, Lease, LeaseRecord
from litestream_core.errors import LeaseExistsError, LeaseNotHeldError, TransientReplicaError
from litestream_core.testing.e2e import (
    OUR_LITESTREAM,
    Replicate,
    insert_rows,
    rows,
    wait_for,
    write_config,
)
from litestream_core.testing.lease_e2e import two_databases_one_replica
from litestream_core.testing.memory import MemoryReplicaClient, MemoryStore


@pytest.mark.parametrize("kill_first", [False, True], ids=["stopped", "killed"])
def test_second_database_waits_then_takes_the_replica_over(tmp_path: Path, kill_first: bool):
    replica = tmp_path / "replica"
    two_databases_one_replica(
        tmp_path, [f"url: file://{replica}"], [f"file://{replica}"], kill_first=kill_first
    )


# -- the lease itself, on an in-memory replica with clocks the test moves ------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FailingCreates(MemoryReplicaClient):
    """A replica whose atomic creates fail (storage unreachable for this holder)."""

    failing = False

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        if self.failing:
            raise TransientReplicaError("storage unreachable", op="create")
        await super().create_exclusive(level, min_txid, max_txid, data)


async def leases(**kw: object) -> tuple[Lease, Clock, Lease, Clock, FailingCreates]:
    store = MemoryStore()
    a_client, b_client = FailingCreates(store), MemoryReplicaClient(store)
    await a_client.init()
    await b_client.init()
    a_clock, b_clock = Clock(), Clock()
    a = Lease(a_client, database="/a.db", where="mem", ttl=TTL, clock=a_clock)
    b = Lease(b_client, database="/b.db", where="mem", ttl=TTL, clock=b_clock, **kw)  # type: ignore[arg-type]
    assert await a.attempt() and a.held
    return a, a_clock, b, b_clock, a_client


TTL = 10.0


@pytest.mark.anyio
async def test_a_renewed_lease_is_never_taken_over():
    a, a_clock, b, b_clock, _ = await leases()
    for _ in range(12):  # three TTLs
        assert not await b.attempt()
        a_clock.now += TTL / 4
        b_clock.now += TTL / 4
        assert await a.attempt() and a.held
    assert not b.owned


@pytest.mark.anyio
async def test_a_lease_not_renewed_for_the_ttl_is_taken_over_and_its_holder_stops():
    a, a_clock, b, b_clock, _ = await leases()
    assert not await b.attempt()  # first sight: the TTL counts from here
    b_clock.now += TTL - 0.1
    assert not await b.attempt()
    a_clock.now += TTL
    assert not a.held  # it stopped writing long before: 0.6 TTL after its last renewal
    with pytest.raises(LeaseNotHeldError):
        a.check()
    b_clock.now += 0.1
    assert await b.attempt() and b.held
    assert b.previous is not None and b.previous.database == "/a.db"
    assert not await a.attempt()  # its renewal loses to the new holder's number
    assert not a.owned and not a.held


@pytest.mark.anyio
async def test_renewal_failure_stops_writes_and_a_later_renewal_resumes():
    a, a_clock, _, _, a_client = await leases()
    a_client.failing = True
    a_clock.now += TTL * 0.3
    assert await a.attempt()  # renewal failed, logged; still inside its validity
    a_clock.now += TTL * 0.3
    assert not await a.attempt() and not a.held
    with pytest.raises(LeaseNotHeldError):
        a.check()
    a_client.failing = False
    assert await a.attempt() and a.held  # nobody took it: renewing works again


class HangingCreates(FailingCreates):
    """A replica whose atomic creates never answer (a hung storage server)."""

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        if self.failing:
            await asyncio.Event().wait()
        await super().create_exclusive(level, min_txid, max_txid, data)


@pytest.mark.anyio
async def test_a_release_on_hung_storage_gives_up_after_its_timeout_and_the_lease_expires():
    store = MemoryStore()
    a_client = HangingCreates(store)
    await a_client.init()
    a = Lease(a_client, database="/a.db", where="mem", ttl=TTL)
    assert await a.attempt()
    a_client.failing = True
    await asyncio.wait_for(a.release(0.05), 5)  # the test's bound: release must give up
    assert not a.owned
    b_client = MemoryReplicaClient(store)
    await b_client.init()
    b_clock = Clock()
    b = Lease(b_client, database="/b.db", where="mem", ttl=TTL, clock=b_clock)
    assert not await b.attempt()  # not released: waited for until the TTL passes
    b_clock.now += TTL
    assert await b.attempt()


@pytest.mark.anyio
async def test_released_lease_is_taken_at_once_without_taking_over():
    a, _, b, _, _ = await leases()
    await a.release()
    assert not a.owned
    assert await b.attempt() and b.previous is None  # nobody was waited for


@pytest.mark.anyio
async def test_fail_fast_names_the_holder():
    _, _, b, _, _ = await leases(fail_fast=True)
    with pytest.raises(LeaseExistsError, match=r"leased by /a\.db on host .*, pid \d+, since"):
        await b.attempt()


def test_lease_fail_flag_exits_with_one_line(tmp_path: Path):
    a, b, replica = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "replica"
    insert_rows(a, range(3), wal=True)
    insert_rows(b, range(3), wal=True)
    first = Replicate(write_config(tmp_path / "a.yml", a, [f"url: file://{replica}"]),
                      tmp_path / "a.log")  # fmt: skip
    try:
        wait_for(lambda: "lease taken" in first.output(), "the first never took the lease")
        result = subprocess.run(
            [str(OUR_LITESTREAM), "replicate", "-lease-fail", str(b), f"file://{replica}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        line = result.stderr.strip()
        assert line.count("\n") == 0 and line.startswith("Error: "), line
        assert f"leased by {a}" in line and f"pid {first.proc.pid}" in line
        first.assert_running()
    finally:
        first.stop()


def test_go_restores_a_leased_replica_and_its_replica_is_leased_by_ours(
    go_litestream, go_env, tmp_path: Path
):
    """The lease objects live at level 11, which Go never lists: a replica Go wrote (no
    lease) is leased by ours, and Go still replicates to it and restores it."""
    db, replica = tmp_path / "g.db", tmp_path / "replica"
    url = f"file://{replica}"
    go = [str(go_litestream), "replicate", "-once", str(db), url]
    ours = [str(OUR_LITESTREAM), "replicate", "-once", str(db), url]
    for step, argv in enumerate((go, ours, go)):
        insert_rows(db, range(step * 10, step * 10 + 10), wal=True)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=go_env)
        assert result.returncode == 0, result.stderr
    leases = sorted((replica / "ltx" / str(LEASE_LEVEL)).glob("*.ltx"))
    assert leases, "ours took no lease"
    assert LeaseRecord.decode(leases[-1].read_bytes()).released  # -once released it
    out = tmp_path / "out.db"
    result = subprocess.run([str(go_litestream), "restore", "-o", str(out), url],
                            capture_output=True, text=True, timeout=60, env=go_env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert rows(out) == rows(db)


@pytest.mark.anyio
async def test_a_holder_with_a_longer_ttl_is_waited_for_as_long():
    _, _, b, b_clock, _ = await leases()
    b.ttl = TTL / 2  # configured shorter than the holder's
    assert not await b.attempt()
    b_clock.now += TTL - 0.1
    assert not await b.attempt()
    b_clock.now += 0.1
    assert await b.attempt()


@pytest.mark.anyio
async def test_a_renewal_is_due_before_the_lease_stops_being_held():
    """The monitor's direct upload writes without renewing first: it goes only while
    no renewal is due, so a write never relies on a lease about to lapse."""
    a, a_clock, b, _, _ = await leases()
    assert a.held and not a.renewal_due
    a_clock.now += a.renew_interval
    assert a.held and a.renewal_due  # still held, but the next write renews first
    assert await a.attempt() and not a.renewal_due
    assert b.renewal_due  # never taken


def test_replicate_once_renews_its_lease_through_a_sync_longer_than_the_ttl(tmp_path: Path):
    """A first snapshot of a large database outlasts the TTL; ``-once`` still uploads it."""
    import sqlite3

    from litestream_core.client import SNAPSHOT_LEVEL
    from litestream_core.engine.compaction import Compactor
    from litestream_core.engine.db import DB, DBSettings
    from litestream_core.engine.levels import CompactionSettings
    from litestream_core.engine.replica import Replica, ReplicaSettings
    from litestream_core.engine.store import Entry, Store

    path = tmp_path / "app.db"
    app = sqlite3.connect(path)
    app.execute("PRAGMA journal_mode=wal")
    app.execute("CREATE TABLE t (v)")
    app.execute("INSERT INTO t VALUES (1)")
    app.commit()

    class SlowUploads(MemoryReplicaClient):
        async def write_ltx_file(self, level, min_txid, max_txid, data):  # type: ignore[no-untyped-def]
            if level == 0:
                await asyncio.sleep(2.5)  # the lease's TTL is 1 s
            return await super().write_ltx_file(level, min_txid, max_txid, data)

    async def scenario() -> None:
        client = SlowUploads()
        db = DB(path, DBSettings())
        lease = Lease(client, database=str(path), where="mem", ttl=1.0)
        replica = Replica(db, client, ReplicaSettings(), lease=lease)
        compactor = Compactor(client, CompactionSettings(), db=db, lease=lease)
        store = Store([Entry(db, replica, compactor)])
        await store.open(run=False)
        try:
            await store.run_once(force_snapshot=True)  # after the slow upload: the lease
            assert replica.pos.txid >= 1
            assert [f.max_txid async for f in client.ltx_files(SNAPSHOT_LEVEL)] == [1]
        finally:
            await store.close(final_sync=False)

    asyncio.run(scenario())
    app.close()
