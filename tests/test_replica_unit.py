"""The replica's upload logic against a scripted database and a memory replica.

The scripted database writes real LTX files of a page-level history, so every
upload, snapshot and rebase decision can be checked by restoring the replica.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path

from litestream_core.client import LTXFileInfo
from litestream_core.engine.dbtypes import DBSettings, Pos
from litestream_core.engine.identity import IDENTITY_LEVEL
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.restore import restore
from litestream_core.engine.retry import Backoff
from litestream_core.errors import TransientReplicaError
from litestream_core.events import LTXFileUploaded, SnapshotWritten, SyncFailed, SyncRecovered
from litestream_core.ltx import Encoder, Header, database_checksum
from litestream_core.testing.memory import MemoryReplicaClient, MemoryStore

PAGE = 512


def page(seed: str) -> bytes:
    return (hashlib.sha256(seed.encode()).digest() * (PAGE // 32))[:PAGE]


def ltx_keys(store: MemoryStore) -> list[tuple[int, int, int]]:
    """The LTX files of a memory replica, without its identity object."""
    return sorted(k for k in store.files if k[0] != IDENTITY_LEVEL)


class ScriptedDB:
    """Just the surface of engine.db.DB the replica uses."""

    def __init__(self, root: Path) -> None:
        self.path = root / "app.db"
        self.meta_path = root / ".app.db-litestream"
        self.pages: dict[int, bytes] = {}
        self.states: dict[int, dict[int, bytes]] = {}
        self._pos = Pos(0, 0)
        self.changed = asyncio.Event()
        self.settings = DBSettings()
        self.rebased: list[Pos] = []

    def ltx_path(self, level: int, lo: int, hi: int) -> Path:
        return self.meta_path / "ltx" / str(level) / f"{lo:016x}-{hi:016x}.ltx"

    def pos(self) -> Pos:
        return self._pos

    def _encode(self, out, lo, hi, pages, changed, pre):
        header = Header(page_size=PAGE, commit=len(pages), min_txid=lo, max_txid=hi,
                        timestamp=1_700_000_000_000 + hi, pre_apply_checksum=pre)  # fmt: skip
        enc = Encoder(out, header)
        for pgno in sorted(changed):
            enc.write_page(pgno, pages[pgno])
        return header, enc.finish(database_checksum(sorted(pages.items())))

    def commit(self, changes: dict[int, bytes], *, full: bool = False) -> None:
        """One transaction -> one L0 file (full: every page, as after a lost position)."""
        before = (
            database_checksum(sorted(self.pages.items()))
            if self.pages
            else self._pos.post_apply_checksum  # after a rebase: the remote's state
        )
        self.pages = {**self.pages, **changes}
        txid = self._pos.txid + 1
        path = self.ltx_path(0, txid, txid)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            changed = self.pages if (txid == 1 or full) else changes
            _, trailer = self._encode(
                out, txid, txid, self.pages, changed, before if txid > 1 else 0
            )
        self._pos = Pos(txid, trailer.post_apply_checksum)
        self.states[txid] = dict(self.pages)
        self.changed.set()

    def local_ltx_files(self, level: int = 0) -> list[LTXFileInfo]:
        from datetime import UTC, datetime

        out = []
        for p in sorted(self.ltx_path(level, 1, 1).parent.glob("*.ltx")):
            lo, hi = (int(x, 16) for x in p.stem.split("-"))
            out.append(LTXFileInfo(level, lo, hi, p.stat().st_size, datetime.now(UTC)))
        return out

    async def write_snapshot(self, out) -> Header:
        txid = self._pos.txid
        header, _ = self._encode(out, 1, txid, self.pages, self.pages, 0)
        return header

    async def rebase(self, pos: Pos, ltx_file: Path | None) -> None:
        self.rebased.append(pos)
        for f in self.local_ltx_files(0):
            self.ltx_path(0, f.min_txid, f.max_txid).unlink()
        self._pos = pos

    async def remove_ltx_files(self, level: int, up_to_txid: int) -> None:
        files = self.local_ltx_files(level)
        for f in files[:-1]:
            if f.max_txid <= up_to_txid:
                self.ltx_path(level, f.min_txid, f.max_txid).unlink()

    # Nothing held in memory: every upload reads its file back and verifies it.
    def keep_newest_l0(self, limit: int) -> None:
        pass

    def newest_l0(self, info: LTXFileInfo) -> bytes | None:
        return None

    def forget_newest_l0(self, txid: int) -> None:
        pass


def db_bytes(pages: dict[int, bytes]) -> bytes:
    return b"".join(pages[p] for p in range(1, len(pages) + 1))


async def restored(client, tmp_path: Path, name: str, txid=None) -> bytes:
    out = tmp_path / name
    await restore(client, out, txid=txid)
    return out.read_bytes()


def test_uploads_in_order_and_cleans_local_files(tmp_path):
    async def main():
        db = ScriptedDB(tmp_path)
        client = MemoryReplicaClient()
        events = []
        replica = Replica(db, client, emit=events.append)
        await replica.start()
        for i in range(5):
            db.commit({1 + i % 3: page(f"a{i}")})
        await replica.sync()
        assert replica.pos == db.pos()
        uploads = [(e.level, e.min_txid) for e in events if isinstance(e, LTXFileUploaded)]
        assert uploads == [(0, t) for t in range(1, 6)]
        assert [f.max_txid for f in db.local_ltx_files()] == [5]  # newest kept
        for txid, pages in db.states.items():
            assert await restored(client, tmp_path, f"r{txid}.db", txid) == db_bytes(pages)

    asyncio.run(main())


def test_wiped_replica_gets_a_snapshot_then_continues(tmp_path):
    async def main():
        db = ScriptedDB(tmp_path)
        store = MemoryStore()
        replica = Replica(db, MemoryReplicaClient(store))
        await replica.start()
        for i in range(4):
            db.commit({i + 1: page(f"b{i}")})
        await replica.sync()
        store.files.clear()  # replica wiped; local files 1..3 are gone already
        events = []
        replica = Replica(db, MemoryReplicaClient(store), emit=events.append)
        await replica.start()
        db.commit({2: page("c")})
        await replica.sync()
        assert any(isinstance(e, SnapshotWritten) and e.txid == 5 for e in events)
        db.commit({3: page("d")})
        await replica.sync()
        assert ltx_keys(store) == [(0, 6, 6), (9, 1, 5)]
        client = MemoryReplicaClient(store)
        await client.init()
        assert await restored(client, tmp_path, "r.db") == db_bytes(db.states[6])

    asyncio.run(main())


def test_replica_ahead_rebases_the_database(tmp_path):
    async def main():
        store = MemoryStore()
        old = ScriptedDB(tmp_path / "old")
        (tmp_path / "old").mkdir()
        replica = Replica(old, MemoryReplicaClient(store))
        await replica.start()
        for i in range(6):
            old.commit({1: page(f"o{i}")})
        await replica.sync()

        shutil.rmtree(old.meta_path)  # the meta directory was deleted (or a restore)
        db = ScriptedDB(tmp_path / "old")
        replica = Replica(db, MemoryReplicaClient(store))
        await replica.start()
        assert db.rebased == [old.pos()]
        db.commit({1: page("n1"), 2: page("n2")}, full=True)  # next TXID, all pages
        await replica.sync()
        assert db.pos().txid == 7 and replica.pos.txid == 7
        client = MemoryReplicaClient(store)
        await client.init()
        assert await restored(client, tmp_path, "r.db") == db_bytes(db.pages)

    asyncio.run(main())


class FlakyClient(MemoryReplicaClient):
    def __init__(self, store, failures: int) -> None:
        super().__init__(store)
        self.failures = failures

    async def write_ltx_file(self, level, min_txid, max_txid, data):
        if self.failures and level != IDENTITY_LEVEL:
            self.failures -= 1
            raise TransientReplicaError("503 slow down", op="write")
        return await super().write_ltx_file(level, min_txid, max_txid, data)


def test_transient_errors_are_retried_without_gaps(tmp_path):
    async def main():
        db = ScriptedDB(tmp_path)
        store = MemoryStore()
        events = []
        settings = ReplicaSettings(sync_interval=0.01, backoff=Backoff(initial=0.01, maximum=0.05))
        replica = Replica(db, FlakyClient(store, failures=3), settings, emit=events.append)
        await replica.start()
        task = asyncio.create_task(replica.run())
        for i in range(5):
            db.commit({i + 1: page(f"f{i}")})
        await replica.wait_for_txid(5, timeout=10)
        task.cancel()
        kinds = [type(e) for e in events if isinstance(e, SyncFailed | SyncRecovered)]
        assert kinds == [SyncFailed] * 3 + [SyncRecovered]
        assert sorted(k[1] for k in ltx_keys(store)) == [1, 2, 3, 4, 5]
        client = MemoryReplicaClient(store)
        await client.init()
        assert await restored(client, tmp_path, "r.db") == db_bytes(db.pages)

    asyncio.run(main())


async def write_l9_snapshot(db: ScriptedDB, client: MemoryReplicaClient) -> int:
    """What the compactor does: a snapshot of the database at its local position."""
    import io

    out = io.BytesIO()
    header = await db.write_snapshot(out)
    await client.init()
    await client.write_ltx_file(9, header.min_txid, header.max_txid, out.getvalue())
    return header.max_txid


def test_restart_after_snapshot_ahead_of_l0_uploads_the_gap(tmp_path):
    """An L9 snapshot taken at the local position, ahead of the uploaded L0 files, and a
    restart right then: the L0 files in between must still be uploaded, so every point
    in time stays restorable (the snapshot alone would skip TXIDs 4 and 5)."""

    async def main():
        db = ScriptedDB(tmp_path)
        store = MemoryStore()
        replica = Replica(db, MemoryReplicaClient(store))
        await replica.start()
        for i in range(3):
            db.commit({i + 1: page(f"s{i}")})
        await replica.sync()
        for i in range(3):
            db.commit({2: page(f"t{i}")})  # TXIDs 4..6, not uploaded yet
        assert await write_l9_snapshot(db, MemoryReplicaClient(store)) == 6

        replica = Replica(db, MemoryReplicaClient(store))  # the restart
        await replica.start()
        assert replica.pos.txid == 3 and db.rebased == []
        await replica.sync()
        db.commit({1: page("u")})
        await replica.sync()
        assert sorted(k[1:] for k in store.files if k[0] == 0) == [(t, t) for t in range(1, 8)]
        client = MemoryReplicaClient(store)
        await client.init()
        for txid, pages in db.states.items():
            assert await restored(client, tmp_path, f"r{txid}.db", txid) == db_bytes(pages)

    asyncio.run(main())


def test_snapshot_ahead_of_l0_is_adopted_when_local_files_are_gone(tmp_path):
    """No local file continues L0: the snapshot is the only way on, so the replica
    continues from it and the newest state stays restorable."""

    async def main():
        db = ScriptedDB(tmp_path)
        store = MemoryStore()
        replica = Replica(db, MemoryReplicaClient(store))
        await replica.start()
        for i in range(3):
            db.commit({i + 1: page(f"v{i}")})
        await replica.sync()
        db.commit({2: page("w1")})
        db.commit({3: page("w2")})
        await write_l9_snapshot(db, MemoryReplicaClient(store))
        await db.remove_ltx_files(0, 5)  # only the newest local file (5) is left

        replica = Replica(db, MemoryReplicaClient(store))
        await replica.start()
        assert replica.pos.txid == 5
        db.commit({1: page("w3")})
        await replica.sync()
        assert (0, 6, 6) in store.files and (0, 4, 4) not in store.files
        client = MemoryReplicaClient(store)
        await client.init()
        assert await restored(client, tmp_path, "r.db") == db_bytes(db.states[6])
        assert await restored(client, tmp_path, "r5.db", 5) == db_bytes(db.states[5])

    asyncio.run(main())


class UnreachableAtFirst(MemoryReplicaClient):
    """Listings fail ``failures`` times first, as storage does while the network comes up."""

    def __init__(self, store, failures: int) -> None:
        super().__init__(store)
        self.failures = failures

    async def ltx_files(self, level, *, seek=0, use_metadata=False):
        if self.failures:
            self.failures -= 1
            raise TransientReplicaError("connection lost during list", op="list")
        async for info in super().ltx_files(level, seek=seek, use_metadata=use_metadata):
            yield info


def test_start_retries_storage_that_fails_transiently_then_answers(tmp_path):
    async def main():
        settings = ReplicaSettings(backoff=Backoff(initial=0.01, maximum=0.05))
        client = UnreachableAtFirst(MemoryStore(), failures=3)
        remote = await Replica(ScriptedDB(tmp_path), client, settings).probe()
        assert client.failures == 0 and remote.lower is None and remote.snapshot is None

    asyncio.run(main())


def test_start_gives_up_on_storage_that_stays_away(tmp_path, monkeypatch):
    import litestream_core.engine.replica as replica_module

    monkeypatch.setattr(replica_module, "PROBE_PATIENCE", 0.2)

    async def main():
        settings = ReplicaSettings(backoff=Backoff(initial=0.01, maximum=0.05))
        client = UnreachableAtFirst(MemoryStore(), failures=10**6)
        try:
            await Replica(ScriptedDB(tmp_path), client, settings).probe()
        except TransientReplicaError as exc:
            assert "connection lost during list" in str(exc)
            assert client.failures < 10**6 - 2  # it did retry before giving up
        else:
            raise AssertionError("storage that never answers must fail the start")

    asyncio.run(main())


def test_run_stops_when_cancelled_as_a_file_arrives(tmp_path):
    """A Store closing its replicas cancels ``run`` while the database may be announcing
    a new file at that very moment; the loop must end all the same (on Python 3.11,
    ``asyncio.wait_for`` swallowed that cancellation and a shutdown hung)."""

    async def main():
        db = ScriptedDB(tmp_path)
        replica = Replica(db, MemoryReplicaClient(), ReplicaSettings(sync_interval=3600))
        await replica.start()
        db.changed.clear()
        task = asyncio.create_task(replica.run())
        await asyncio.sleep(0.01)  # waiting for a new file
        db.changed.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done and task.cancelled()

    asyncio.run(main())


def test_uploads_stop_while_the_lease_cannot_be_renewed(tmp_path):
    """Renewals failing (storage unreachable for the lease) stop uploads once the lease
    can no longer be proven, as a reported failure; renewing again resumes them."""
    from litestream_core.engine.lease import LEASE_LEVEL, Lease

    class Unrenewable(MemoryReplicaClient):
        failing = False

        async def create_exclusive(self, level, min_txid, max_txid, data):
            if self.failing:
                raise TransientReplicaError("unreachable", op="create")
            await super().create_exclusive(level, min_txid, max_txid, data)

    async def main():
        db = ScriptedDB(tmp_path)
        store = MemoryStore()
        client = Unrenewable(store)
        now = [100.0]
        lease = Lease(client, database=str(db.path), where="mem", ttl=10, clock=lambda: now[0])
        events = []
        replica = Replica(db, client, emit=events.append, lease=lease)
        await replica.start()
        db.commit({1: page("a")})
        assert await replica.try_sync() and replica.pos.txid == 1
        client.failing = True
        now[0] += 7  # past 0.6 TTL since the last renewal
        db.commit({2: page("b")})
        assert not await replica.try_sync()
        failed = [e for e in events if isinstance(e, SyncFailed)]
        assert failed and "cannot prove it still holds the lease" in failed[-1].error
        assert [k for k in ltx_keys(store) if k[0] == 0] == [(0, 1, 1)]  # nothing uploaded
        client.failing = False
        assert await replica.try_sync() and replica.pos.txid == 2
        assert [k for k in ltx_keys(store) if k[0] == 0] == [(0, 1, 1), (0, 2, 2)]
        assert any(k[0] == LEASE_LEVEL for k in store.files)

    asyncio.run(main())


class LevelsOnRequest(MemoryReplicaClient):
    """Says which levels exist (as the file backend does) and counts listed levels."""

    def __init__(self, store) -> None:
        super().__init__(store)
        self.listed: list[int] = []

    async def ltx_levels(self) -> list[int]:
        return sorted({level for level, _, _ in self.store.files})

    async def ltx_files(self, level, *, seek=0, use_metadata=False):
        self.listed.append(level)
        async for info in super().ltx_files(level, seek=seek, use_metadata=use_metadata):
            yield info


def test_probe_lists_only_the_levels_the_backend_names(tmp_path):
    """A backend that names its levels is probed with one listing per level present,
    not ten; the newest lower file and the newest snapshot are found as before."""
    from litestream_core.testing import make_ltx_bytes

    async def main():
        client = LevelsOnRequest(MemoryStore())
        await client.init()
        for level, lo, hi in [(0, 7, 7), (0, 8, 8), (2, 1, 6), (9, 1, 5)]:
            await client.write_ltx_file(level, lo, hi, make_ltx_bytes(lo, hi))
        remote = await Replica(ScriptedDB(tmp_path), client, ReplicaSettings()).probe()
        assert client.listed == [0, 2, 9]
        assert remote.lower is not None and remote.lower[0].max_txid == 8
        assert remote.snapshot is not None and remote.snapshot[0].max_txid == 5

    asyncio.run(main())
