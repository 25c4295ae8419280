"""Several replicas per database: the config, independent uploads, shared local files.

Real databases written by the stdlib ``sqlite3`` module; replica storage in memory,
one of them switched off and on (an engine unit test; the same with a file replica and
moto S3 through a real outage is ``faults/test_multiple_replicas_outage.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import Writer, rows_of
from test_store_runtime import restored_rows

from litestream_core.client import SNAPSHOT_LEVEL
from litestream_core.config import parse_config
from litestream_core.engine.choose import choose_replica
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.holds import SharedL0
from litestream_core.engine.plan import NoBackupsError
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.restore import restore
from litestream_core.engine.retry import Backoff
from litestream_core.engine.store import Entry, Store
from litestream_core.errors import ConfigError, ReplicaClientError
from litestream_core.events import Event, SnapshotWritten
from litestream_core.testing.memory import MemoryReplicaClient

# -- config ----------------------------------------------------------------------------


def test_replicas_each_with_its_own_backend_settings_and_name(tmp_path):
    cfg = parse_config(
        f"""
sync-interval: 2s
dbs:
  - path: {tmp_path}/a.db
    replicas:
      - path: {tmp_path}/r1
      - url: s3://bucket/a
        sync-interval: 10s
        catch-up-window: 5m
      - name: offsite
        url: s3://other/a
""",
        source="t.yml",
    )
    db = cfg.dbs[0]
    assert [r.display_name for r in db.replicas] == ["file", "s3", "offsite"]
    assert [r.sync_interval for r in db.replicas] == [2.0, 10.0, 2.0]
    assert db.replicas[1].catch_up_window == 300.0 and db.replicas[0].catch_up_window is None
    assert db.replica is db.replicas[0]
    assert db.find_replica("offsite") is db.replicas[2] and db.find_replica("gcs") is None


def test_a_single_replica_is_the_one_element_list(tmp_path):
    single = parse_config(f"dbs:\n  - path: /a.db\n    replica:\n      path: {tmp_path}\n")
    listed = parse_config(f"dbs:\n  - path: /a.db\n    replicas:\n      - path: {tmp_path}\n")

    def same(cfg):  # where each came from differs, nothing else
        return [replace(r, location="") for r in cfg.dbs[0].replicas]

    assert same(single) == same(listed) and len(same(single)) == 1
    assert single.dbs[0].replicas == (single.dbs[0].replica,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("    replicas:\n      - url: s3://a/p\n      - url: s3://b/p\n",
         "dbs[0].replicas[1]: multiple replicas named 's3' (also replicas[0]); give each its "
         "own 'name'"),
        ("    replicas:\n      - {url: s3://a/p, name: x}\n      - {path: /r, name: x}\n",
         "multiple replicas named 'x' (also replicas[0])"),
        ("    replicas:\n      - {url: s3://a/p, name: 'a b'}\n", "invalid replica name 'a b'"),
        ("    replicas:\n      - {url: s3://a/p, compression: zstd}\n      - {path: /r}\n",
         "compression"),
        ("    replicas:\n      - {path: /r, catch-up-window: 0s}\n",
         "catch-up-window: must be greater than zero"),
    ],
)  # fmt: skip
def test_replica_list_errors_are_one_line(text, message):
    with pytest.raises(ConfigError) as info:
        parse_config("dbs:\n  - path: /a.db\n" + text, source="t.yml")
    line = info.value.one_line()
    assert message in line and "\n" not in line


def test_a_top_level_name_is_a_warning():
    cfg = parse_config("name: x\ndbs:\n  - path: /a.db\n    replica:\n      path: /r\n")
    assert any("'name' (top level: it belongs inside a replica block)" in w for w in cfg.warnings)
    assert cfg.dbs[0].replica is not None and cfg.dbs[0].replica.name is None


# -- engine ----------------------------------------------------------------------------


class SwitchedClient(MemoryReplicaClient):
    """Memory storage that can be switched off: every call fails while ``down``."""

    type = "switched"
    down = False

    def _check_open(self, op: str) -> None:
        if self.down:
            raise ReplicaClientError("storage unreachable (switched off)", op=op)
        super()._check_open(op)


FAST = ReplicaSettings(sync_interval=0.05, backoff=Backoff(initial=0.05, maximum=0.2))


def two_replicas(
    path: Path, window: float = 3600.0, emit: Callable[[Event], None] | None = None
) -> tuple[Entry, MemoryReplicaClient, SwitchedClient]:
    db = DB(path, DBSettings(monitor_interval=0.05))
    shared = SharedL0(db)
    good, flaky = MemoryReplicaClient(), SwitchedClient()
    settings = ReplicaSettings(sync_interval=0.05, catch_up_window=window,
                               backoff=Backoff(initial=0.05, maximum=0.2))  # fmt: skip
    replicas = [
        Replica(db, good, settings, name="good", shared=shared, emit=emit),
        Replica(db, flaky, settings, name="flaky", shared=shared, emit=emit),
    ]
    return Entry(db, None, replicas=replicas), good, flaky


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_a_failing_replica_holds_back_neither_the_other_nor_local_sync(tmp_path):
    async def scenario() -> None:
        writer = Writer(tmp_path / "app.db")
        writer.step(5)
        entry, good, flaky = two_replicas(tmp_path / "app.db")
        store = Store([entry])
        await store.open()
        db, (first, second) = entry.db, entry.replicas
        try:
            await until(lambda: first.pos.txid == second.pos.txid == db.pos().txid > 0)
            flaky.down = True
            down_at = second.pos.txid
            for _ in range(10):
                writer.step(3)
                await asyncio.sleep(0.06)
            await db.sync()
            await until(lambda: first.pos.txid == db.pos().txid > down_at + 5)
            assert second.last_error is not None and "switched off" in second.last_error
            # Every file the failing replica lacks is still here for it.
            local = db.local_ltx_files(0)
            assert local[0].min_txid <= down_at + 1 and local[-1].max_txid == db.pos().txid
            assert await restored_rows(good, tmp_path / "good.db") == writer.rows()

            flaky.down = False
            await store.sync_db(entry, wait=True, timeout=10)
            await until(lambda: len(db.local_ltx_files(0)) == 1)  # now both hold them
            await until(lambda: second.last_error is None)
            # It caught up from the local files, without a snapshot.
            assert not [k for k in flaky.store.files if k[0] == SNAPSHOT_LEVEL]
            assert await restored_rows(flaky, tmp_path / "flaky.db") == writer.rows()
            result = await store.sync_db(entry, wait=True, timeout=10)
            assert result.replicated_txid == result.txid == db.pos().txid
        finally:
            await store.close()
            writer.close()

    asyncio.run(scenario())


def test_a_replica_behind_past_its_window_stops_holding_files_and_gets_a_snapshot(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="litestream")
    events: list[Event] = []

    async def scenario() -> None:
        writer = Writer(tmp_path / "app.db")
        writer.step(5)
        entry, _, flaky = two_replicas(tmp_path / "app.db", window=0.3, emit=events.append)
        store = Store([entry])
        await store.open()
        db, (first, second) = entry.db, entry.replicas
        try:
            await until(lambda: second.pos.txid == db.pos().txid > 0)
            flaky.down = True
            for _ in range(12):
                writer.step(2)
                await asyncio.sleep(0.06)
            await db.sync()
            await until(lambda: first.pos.txid == db.pos().txid)
            await until(lambda: len(db.local_ltx_files(0)) <= 2)  # no longer held back
            assert "more than its catch-up window" in caplog.text

            flaky.down = False
            await store.sync_db(entry, wait=True, timeout=10)
            snapshots = [e for e in events if isinstance(e, SnapshotWritten)]
            assert any("catch-up window" in e.reason for e in snapshots), snapshots
            assert [k for k in flaky.store.files if k[0] == SNAPSHOT_LEVEL]
            assert await restored_rows(flaky, tmp_path / "flaky.db") == writer.rows()
            writer.step(3)  # it holds files again and follows with L0 files
            await store.sync_db(entry, wait=True, timeout=10)
            assert await restored_rows(flaky, tmp_path / "flaky2.db") == writer.rows()
            assert "caught up; local files wait for it again" in caplog.text
        finally:
            await store.close()
            writer.close()

    asyncio.run(scenario())


def test_restore_picks_the_replica_that_gets_furthest(tmp_path):
    async def scenario() -> None:
        writer = Writer(tmp_path / "app.db")
        writer.step(4)
        entry, good, flaky = two_replicas(tmp_path / "app.db")
        store = Store([entry])
        await store.open(run=False)
        try:
            await store.sync(entry)
            behind, behind_txid = writer.rows(), entry.db.pos().txid
            flaky.down = True
            writer.step(4)
            await entry.db.sync()
            assert await entry.replicas[0].try_sync()
            assert not await entry.replicas[1].try_sync()
        finally:
            await store.close(final_sync=False)
        newest = entry.db.pos().txid
        readers = {"flaky": MemoryReplicaClient(flaky.store),
                   "good": MemoryReplicaClient(good.store)}  # fmt: skip
        for reader in readers.values():
            await reader.init()
        name, plan = await choose_replica(readers)
        assert (name, plan.txid) == ("good", newest)
        later = datetime.now(UTC) + timedelta(hours=1)  # a point in time both reach
        name, plan = await choose_replica(readers, timestamp=later)
        assert (name, plan.txid) == ("good", newest)
        name, plan = await choose_replica(readers, txid=behind_txid)  # a tie: listed first
        assert (name, plan.txid) == ("flaky", behind_txid)
        # With one replica down, the other still serves.
        readers["good"] = SwitchedClient(good.store)
        readers["good"].down = True
        name, _ = await choose_replica(readers)
        assert name == "flaky"
        out = tmp_path / "flaky.db"
        await restore(readers["flaky"], out)
        assert rows_of(out) == behind
        empty = {"a": MemoryReplicaClient(), "b": MemoryReplicaClient()}
        for reader in empty.values():
            await reader.init()
        with pytest.raises(NoBackupsError):
            await choose_replica(empty)

    asyncio.run(scenario())


# -- commands ----------------------------------------------------------------------------


def test_commands_name_the_replicas_of_a_database(tmp_path, go_litestream):
    from click.testing import CliRunner

    from litestream_core.cli import make_cli

    writer = Writer(tmp_path / "app.db")
    writer.step(10)
    config = tmp_path / "multi.yml"
    config.write_text(
        f"dbs:\n  - path: {tmp_path}/app.db\n    replicas:\n      - path: {tmp_path}/near\n"
        f"      - name: far\n        path: {tmp_path}/far\n"
    )
    cli, runner = make_cli(), CliRunner()

    def run(*args: str):
        return runner.invoke(cli, [*args], catch_exceptions=False)

    assert run("replicate", "-once", "-config", str(config)).exit_code == 0
    listed = json.loads(
        run("ltx", "-config", str(config), "-json", str(tmp_path / "app.db")).output
    )
    assert {r["replica"] for r in listed} == {"file", "far"}
    only = json.loads(
        run(
            "ltx", "-config", str(config), "-json", "-replica", "far", str(tmp_path / "app.db")
        ).output
    )
    assert only and "replica" not in only[0]
    table = run("ltx", "-config", str(config), str(tmp_path / "app.db")).output
    assert table.splitlines()[0].split()[:2] == ["replica", "level"]
    dbs = json.loads(run("databases", "-config", str(config), "-json").output)
    assert dbs[0]["replica"] == "file:file,far:file"
    status = json.loads(run("status", "-config", str(config), "-json").output)
    assert status[0]["replicas"] == ["file", "far"] and status[0]["status"] == "ok"
    assert run("status", "-config", str(config)).output.splitlines()[0].split()[-1] == "replicas"

    bad = run("restore", "-config", str(config), "-replica", "nope", "-o", str(tmp_path / "x.db"),
              str(tmp_path / "app.db"))  # fmt: skip
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        f"Error: no replica named 'nope' for {tmp_path}/app.db (its replicas: file, far)"
    ]
    for name in ("far", "file"):
        out = tmp_path / f"{name}.db"
        done = run("restore", "-config", str(config), "-replica", name, "-o", str(out),
                   str(tmp_path / "app.db"))  # fmt: skip
        assert done.exit_code == 0 and rows_of(out) == writer.rows()
    for replica in ("near", "far"):  # each replica is a Go replica too
        out = tmp_path / f"go-{replica}.db"
        url = f"file://{tmp_path}/{replica}"
        subprocess.run([str(go_litestream), "restore", "-o", str(out), url], check=True,
                       capture_output=True)  # fmt: skip
        assert rows_of(out) == writer.rows()
    # Several URLs on the command line are several replicas (file, file-2).
    urls = [f"file://{tmp_path}/url1", f"file://{tmp_path}/url2"]
    assert run("replicate", "-once", str(tmp_path / "app.db"), *urls).exit_code == 0
    for url in urls:
        out = tmp_path / f"{url[-4:]}.db"
        assert run("restore", "-o", str(out), url).exit_code == 0
        assert rows_of(out) == writer.rows()
    shutil.rmtree(tmp_path / "near")  # the first replica is gone: the other one serves
    done = run("restore", "-config", str(config), "-o", str(tmp_path / "any.db"),
               str(tmp_path / "app.db"))  # fmt: skip
    assert done.exit_code == 0 and "restoring from replica far" in done.output
    assert rows_of(tmp_path / "any.db") == writer.rows()
    writer.close()


def test_metrics_name_each_replica_and_the_database_shows_the_furthest_behind(tmp_path):
    from prometheus_client import CollectorRegistry
    from test_metrics import parse, value

    from litestream_core.engine.db import DB
    from litestream_core.engine.replica import Replica
    from litestream_core.engine.store import Entry, Store
    from litestream_core.events import ReplicaLag
    from litestream_core.metrics import MetricsCollector, render

    several, lone = DB(tmp_path / "a.db"), DB(tmp_path / "b.db")
    db, other = str(several.path), str(lone.path)
    replicas = [Replica(several, MemoryReplicaClient(), name=n) for n in ("file", "far")]
    store = Store([Entry(several, None, replicas=replicas, opened=True),
                   Entry(lone, Replica(lone, MemoryReplicaClient(), name="file:///r"),
                         opened=True)])  # fmt: skip
    collector = MetricsCollector(store)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    collector.litestream_event(ReplicaLag(db_path=db, replica="file", lag_seconds=0,
                                          replica_txid=9, db_txid=9))  # fmt: skip
    collector.litestream_event(ReplicaLag(db_path=db, replica="far", lag_seconds=30,
                                          replica_txid=4, db_txid=9))  # fmt: skip
    collector.litestream_event(ReplicaLag(db_path=other, replica="file:///r", lag_seconds=0,
                                          replica_txid=3, db_txid=3))  # fmt: skip
    samples, _ = parse(render(registry).decode())
    assert value(samples, "litestream_named_replica_txid", db=db, replica="file") == 9
    assert value(samples, "litestream_named_replica_txid", db=db, replica="far") == 4
    assert value(samples, "litestream_named_replica_lag_seconds", db=db, replica="far") >= 30
    assert value(samples, "litestream_replica_txid", db=db) == 4  # the furthest behind
    assert value(samples, "litestream_replica_lag_seconds", db=db) >= 30
    assert not [k for k in samples if k[0].startswith("litestream_named") and
                ("db", other) in k[1]]  # fmt: skip
    assert value(samples, "litestream_replica_txid", db=other) == 3
