"""The replica identity, engine side: who may write, and a replicator that stops when its
replica is taken over while it runs."""

from __future__ import annotations

import asyncio
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from litestream_core.engine import replica as replica_module
from litestream_core.engine.identity import (
    IDENTITY_LEVEL,
    IDENTITY_TXID,
    check_replica,
    claim_replica,
    local_database_id,
    read_identity,
    take_over,
    write_identity,
)
from litestream_core.engine.replica import Replica
from litestream_core.errors import IdentityError, ReplicaOwnedError, TransientReplicaError
from litestream_core.events import SyncFailed
from litestream_core.testing.memory import MemoryReplicaClient, MemoryStore

sys.path.insert(0, str(Path(__file__).parent))
from test_replica_unit import ScriptedDB, page


async def opened(store: MemoryStore | None = None) -> MemoryReplicaClient:
    client = MemoryReplicaClient(store)
    await client.init()
    return client


async def claim(client: MemoryReplicaClient, root: Path, name: str = "app.db"):
    """What a replicator does at start: check, then claim."""
    db, meta = root / name, root / f".{name}-litestream"
    found = await check_replica(client, db, meta, "mem://r")
    return await claim_replica(client, db, meta, "mem://r", found)


def test_first_claim_writes_the_identity_and_records_the_id(tmp_path):
    async def main():
        client = await opened()
        identity = await claim(client, tmp_path)
        assert identity.database == str(tmp_path / "app.db")
        assert identity.host == socket.gethostname()
        assert await read_identity(client) == identity
        assert local_database_id(tmp_path / ".app.db-litestream") == identity.database_id
        assert await claim(client, tmp_path) == identity  # restarted: the same

    asyncio.run(main())


def test_other_database_is_refused_with_both_names(tmp_path):
    async def main():
        client = await opened()
        await claim(client, tmp_path / "one")
        with pytest.raises(ReplicaOwnedError) as caught:
            await claim(client, tmp_path / "two")
        text = caught.value.one_line()
        assert str(tmp_path / "one" / "app.db") in text and str(tmp_path / "two" / "app.db") in text
        assert "new replica path" in text and "reset -takeover" in text
        # The same database whose meta directory holds another database's ID is refused
        # too, even at the same path (it was restored from, or took over, another replica).
        other = await opened()
        await claim(other, tmp_path / "three")
        (tmp_path / "three" / ".app.db-litestream" / "database-id").write_text("f" * 32)
        with pytest.raises(ReplicaOwnedError):
            await claim(other, tmp_path / "three")

    asyncio.run(main())


def test_damaged_identity_is_refused_until_taken_over(tmp_path):
    async def main():
        client = await opened()
        await claim(client, tmp_path)
        key = (IDENTITY_LEVEL, IDENTITY_TXID, IDENTITY_TXID)
        data = bytearray(await (await client.open_ltx_file(*key)).readall())
        data[120] ^= 0xFF
        await client.write_ltx_file(*key, bytes(data))
        with pytest.raises(IdentityError):
            await read_identity(client)
        with pytest.raises(ReplicaOwnedError, match="unreadable"):
            await claim(client, tmp_path)
        previous, identity = await take_over(
            client, tmp_path / "app.db", tmp_path / ".app.db-litestream"
        )
        assert previous is None and await claim(client, tmp_path) == identity

    asyncio.run(main())


def test_running_replicator_stops_writing_once_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(replica_module, "IDENTITY_RECHECK", 0.0)

    async def main():
        store = MemoryStore()
        (tmp_path / "a").mkdir()
        db = ScriptedDB(tmp_path / "a")
        events: list[object] = []
        replica = Replica(db, MemoryReplicaClient(store), emit=events.append)
        await replica.start()
        db.commit({1: page("a1")})
        assert await replica.try_sync()
        assert replica.identity is not None and replica.identity.first_file is not None

        other = ScriptedDB(tmp_path / "b")
        await take_over(await opened(store), other.path, other.meta_path)
        files = set(store.files)
        db.commit({1: page("a2")})
        assert not await replica.try_sync()
        assert not await replica.try_sync()  # and again after looking afresh
        failures = [e.error for e in events if isinstance(e, SyncFailed)]
        assert len(failures) == 2 and all(str(other.path) in f for f in failures)
        assert set(store.files) == files  # nothing written after the takeover

    asyncio.run(main())


def test_identity_round_trips_through_its_ltx_encoding(tmp_path):
    async def main():
        client = await opened()
        identity = await claim(client, tmp_path)
        long = replace(identity, database="/" + "x" * 5000)  # JSON over two pages
        await write_identity(client, long)
        assert await read_identity(client) == long

    asyncio.run(main())


def test_a_storage_failure_at_start_defers_the_claim_not_the_replicator(tmp_path):
    """Seen under load with 1 s storage deadlines: the identity write at start timed out
    and the whole replicator exited. Now the claim is made by the next pass, before any
    upload."""

    class FirstClaimFails(MemoryReplicaClient):
        failed = False

        async def write_ltx_file(self, level, min_txid, max_txid, data):
            if level == IDENTITY_LEVEL and not self.failed:
                self.failed = True
                raise TransientReplicaError("write timed out", op="write")
            return await super().write_ltx_file(level, min_txid, max_txid, data)

    async def main():
        store = MemoryStore()
        db = ScriptedDB(tmp_path)
        replica = Replica(db, FirstClaimFails(store))
        await replica.start()
        assert replica.identity is None and not store.files
        db.commit({1: page("a")})
        assert await replica.try_sync()
        assert replica.identity is not None
        assert await read_identity(await opened(store)) == replica.identity
        assert (0, 1, 1) in store.files

    asyncio.run(main())
