"""The Store's run-time changes (what the control socket asks for) and heartbeats.

Real databases written by the stdlib ``sqlite3`` module, in-memory replica storage,
and for heartbeats a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import Writer, rows_of, wait_for

from litestream_core.config import DBConfig, parse_config
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.lease import Lease
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.restore import restore
from litestream_core.engine.store import (
    DatabaseNotOpenError,
    Entry,
    ReplicaURLError,
    Store,
)
from litestream_core.errors import ConfigError, DatabaseError
from litestream_core.ops.heartbeat import Heartbeat
from litestream_core.testing.memory import MemoryReplicaClient


def make_entry(path: Path, client: MemoryReplicaClient, sync_interval: float = 3600) -> Entry:
    db = DB(path, DBSettings(monitor_interval=0.05))
    return Entry(db, Replica(db, client, ReplicaSettings(sync_interval=sync_interval)))


async def restored_rows(client: MemoryReplicaClient, out: Path) -> list[tuple]:
    """Restore through a client of its own: the replica's is closed once it stops."""
    async with MemoryReplicaClient(client.store) as reader:
        await restore(reader, out)
    return rows_of(out)


def test_sync_stop_start_register_unregister(tmp_path):
    async def scenario() -> None:
        writer = Writer(tmp_path / "app.db")
        writer.step(5)
        client = MemoryReplicaClient()
        clients = {"mem://two": MemoryReplicaClient()}

        def factory(dbc: DBConfig) -> Entry:
            assert dbc.replica is not None and dbc.replica.url is not None
            if dbc.replica.url not in clients:
                raise ConfigError(f"no backend for {dbc.replica.url}")
            return make_entry(dbc.path, clients[dbc.replica.url])

        entry = make_entry(tmp_path / "app.db", client)
        store = Store([entry], make_entry=factory)
        await store.open()
        try:
            # With an hour-long sync interval only sync_db(wait=True) uploads.
            await store.sync_db(entry, wait=True, timeout=10)
            writer.step(20)
            result = await store.sync_db(entry, wait=True, timeout=10)
            assert result.changed and result.replicated_txid == result.txid
            assert await restored_rows(client, tmp_path / "r1.db") == writer.rows()
            again = await store.sync_db(entry, wait=False, timeout=None)
            assert not again.changed and again.txid == result.txid

            writer.step(3)
            assert await store.stop_db(entry, timeout=10) is True  # final sync included
            assert await restored_rows(client, tmp_path / "r2.db") == writer.rows()
            assert await store.stop_db(entry) is False
            with pytest.raises(DatabaseNotOpenError):
                await store.sync_db(entry, wait=False, timeout=None)
            writer.step(3)  # while stopped
            assert await store.start_db(entry) is True
            assert await store.start_db(entry) is False
            await store.sync_db(entry, wait=True, timeout=10)
            assert await restored_rows(client, tmp_path / "r3.db") == writer.rows()

            second = Writer(tmp_path / "two.db", seed=2)
            second.step(8)
            added = await store.register(tmp_path / "two.db", "mem://two")
            assert added is not None and added.opened and len(store.entries) == 2
            assert await store.register(tmp_path / "two.db", "mem://two") is None
            second.step(4)
            removed = await store.unregister(tmp_path / "two.db", timeout=10)
            assert removed is added and store.find(tmp_path / "two.db") is None
            assert await restored_rows(clients["mem://two"], tmp_path / "r4.db") == second.rows()
            assert await store.unregister(tmp_path / "two.db") is None
            with pytest.raises(DatabaseError, match="database not found"):
                await store.start_db(removed)  # a request that raced the unregister

            with pytest.raises(ReplicaURLError, match="no backend"):
                await store.register(tmp_path / "three.db", "bogus://x")
            clients["mem://meta"] = MemoryReplicaClient()
            sibling = DBSettings(meta_path=str(entry.db.meta_path))
            store.make_entry = lambda dbc: Entry(
                DB(dbc.path, sibling), Replica(DB(dbc.path, sibling), clients["mem://meta"])
            )
            with pytest.raises(ConfigError, match="share the meta directory"):
                await store.register(tmp_path / "four.db", "mem://meta")
            second.close()
        finally:
            assert await store.close()
        writer.close()

    asyncio.run(scenario())


def test_a_stopped_database_releases_its_lease_and_a_start_takes_it_again(tmp_path):
    """Another replicator need not wait a TTL for a database stopped over the socket."""

    async def scenario() -> None:
        writer = Writer(tmp_path / "app.db")
        writer.step(3)
        client = MemoryReplicaClient()
        db = DB(tmp_path / "app.db", DBSettings(monitor_interval=0.05))
        lease = Lease(client, database=str(db.path), where="mem", ttl=3600)
        entry = Entry(db, Replica(db, client, ReplicaSettings(sync_interval=3600), lease=lease))
        store = Store([entry])
        await store.open()
        try:
            assert lease.held
            assert await store.stop_db(entry, timeout=10)
            assert not lease.owned
            async with MemoryReplicaClient(client.store) as other_client:
                other = Lease(other_client, database="/other.db", where="mem", ttl=3600)
                assert await other.attempt() and other.previous is None  # released
                await other.release()
            assert await store.start_db(entry) and lease.held
        finally:
            assert await store.close()
        writer.close()

    asyncio.run(scenario())


class _Endpoint:
    """A local HTTP server counting GETs; answers ``status``."""

    def __init__(self) -> None:
        self.hits = 0
        self.status = 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.hits += 1
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ping"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = _Endpoint()
    yield server
    server.close()


def write_and_close(path: Path) -> None:
    """Two transactions, then the connection closed now: left to the garbage collector
    (sqlite3 connections sit in a reference cycle), its close could come while our
    engine holds the database, and delete the WAL under it."""
    writer = Writer(path)
    writer.step(2)
    writer.close()


def test_heartbeat_pings_only_when_every_database_synced(tmp_path, endpoint):
    async def scenario() -> None:
        write_and_close(tmp_path / "a.db")
        write_and_close(tmp_path / "b.db")
        a = make_entry(tmp_path / "a.db", MemoryReplicaClient(), sync_interval=0.05)
        b = make_entry(tmp_path / "b.db", MemoryReplicaClient(), sync_interval=0.05)
        store = Store([a, b])
        heartbeat = Heartbeat(endpoint.url, 60, store)
        assert not await heartbeat.check()  # nothing runs yet
        await store.open()
        try:
            await asyncio.to_thread(
                wait_for, lambda: a.replica.last_synced_at and b.replica.last_synced_at
            )
            assert await heartbeat.check() and endpoint.hits == 1
            assert not await heartbeat.check()  # at most one ping per interval
            assert endpoint.hits == 1

            heartbeat.last_ping = None  # due again, but one database is behind
            b.replica.last_synced_at = datetime.now(UTC) - timedelta(seconds=61)
            await store.stop_db(b)  # a stopped database does not count ...
            assert await heartbeat.check() and endpoint.hits == 2
            await store.start_db(b)
            await store.stop_db(a)
            await store.stop_db(b)  # ... but with none running there is no ping
            heartbeat.last_ping = None
            assert not await heartbeat.check() and endpoint.hits == 2
            await store.start_db(a)
            a.replica.last_synced_at = datetime.now(UTC) - timedelta(seconds=61)
            a.replica.try_sync = _never
            Writer(tmp_path / "a.db").step(1)  # new data the replica does not get
            await a.db.sync()
            assert not await heartbeat.check() and endpoint.hits == 2

            await store.start_db(b)
            del a.replica.try_sync
            await a.replica.try_sync()
            endpoint.status = 503
            assert not await heartbeat.check() and endpoint.hits == 3
            assert heartbeat.last_ping is not None  # a failure also waits an interval
        finally:
            await store.close()

    asyncio.run(scenario())


async def _never() -> bool:
    return False


def test_heartbeat_task_pings_repeatedly(tmp_path, endpoint):
    """The loop itself, with intervals shortened (Go's are 15 s and at least 1 min)."""

    async def scenario() -> None:
        write_and_close(tmp_path / "a.db")
        store = Store([make_entry(tmp_path / "a.db", MemoryReplicaClient(), 0.05)])
        await store.open()
        task = asyncio.create_task(Heartbeat(endpoint.url, 0.2, store, check_interval=0.02).run())
        try:
            await asyncio.to_thread(wait_for, lambda: endpoint.hits >= 3, 20)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("heartbeat-url: http://x/\nheartbeat-interval: 30s\n",
         "heartbeat-interval: heartbeat interval must be at least 1 minute (got 30s)"),
        ("heartbeat-url: ftp://x/\n",
         "heartbeat-url: heartbeat URL must be a valid HTTP or HTTPS URL (got ftp://x/)"),
        ("socket:\n  enabled: yes please\n", "socket.enabled: expected true or false"),
        ("socket:\n  permissions: 99999\n", "socket.permissions: not a file mode"),
        ("socket:\n  pth: /x\n", "unknown key 'pth'"),
    ],
)  # fmt: skip
def test_ops_config_errors_name_the_key(text, message):
    with pytest.raises(ConfigError, match=r"^t\.yml: ") as info:
        parse_config(text, source="t.yml")
    assert message in info.value.one_line()


def test_ops_config_keys():
    cfg = parse_config(
        "socket:\n  enabled: true\n  path: /run/ls.sock\n  permissions: 0o660\n"
        "mcp-addr: ':3001'\nheartbeat-url: https://hc.example/x\nheartbeat-interval: 2m\n"
    )
    assert (cfg.socket.enabled, cfg.socket.path, cfg.socket.permissions) == (
        True, "/run/ls.sock", 0o660)  # fmt: skip
    assert (cfg.mcp_addr, cfg.heartbeat_url, cfg.heartbeat_interval) == (
        ":3001", "https://hc.example/x", 120.0)  # fmt: skip
    assert not cfg.warnings
    assert parse_config("socket:\n  permissions: 0660\n").socket.permissions == 0o660
    default = parse_config("dbs: []\n")
    assert (default.socket.enabled, default.socket.path, default.socket.permissions) == (
        False, "/var/run/litestream.sock", 0o600)  # fmt: skip
    assert (default.heartbeat_url, default.heartbeat_interval, default.mcp_addr) == (
        None, 300.0, None)  # fmt: skip


def test_shutdown_sync_timeout_zero_is_one_unbounded_attempt(tmp_path):
    """Go's meaning of ``shutdown-sync-timeout: 0``: the final sync is tried once, with
    no deadline (not abandoned at once)."""

    async def scenario() -> None:
        writer = Writer(tmp_path / "app.db")
        writer.step(3)
        client = MemoryReplicaClient()
        entry = make_entry(tmp_path / "app.db", client)  # an hour-long sync interval
        store = Store([entry], shutdown_sync_timeout=0)
        await store.open()
        writer.step(10)
        assert await store.close()  # only the final sync uploads the last commits
        assert await restored_rows(client, tmp_path / "out.db") == writer.rows()
        writer.close()

    asyncio.run(scenario())
