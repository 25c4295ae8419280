"""The direct path (``engine.direct``): a commit synced and uploaded in one hand-off.

Mechanisms, not timings: the thread that wrote a sync's L0 file uploads it, with no
other thread hand-off and no upload pass; the local file is fsynced (file and
directory) before the upload starts, and the position moves only after it; whatever
the direct path cannot take (a failure, a slower sync interval, a second replica) is
still uploaded by the replica's own pass.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from litestream_file.client import FileReplicaClient

from litestream_core.client import Capability, LTXFileInfo
from litestream_core.encryption.client import EncryptedReplicaClient
from litestream_core.encryption.keys import AgeKeys, Identity
from litestream_core.engine import db as db_module
from litestream_core.engine import replica as replica_module
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.holds import SharedL0
from litestream_core.engine.instrumented import InstrumentedClient
from litestream_core.engine.replica import Replica, ReplicaSettings
from litestream_core.engine.stats import OperationStats
from litestream_core.engine.streams import as_local_replica

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)

INTERVAL = 0.02


def file_client(root: Path) -> FileReplicaClient:
    """A file client as the core builds it: with the capability its backend declares."""
    client = FileReplicaClient(root)
    client.capabilities = frozenset({Capability.LOCAL_FILESYSTEM})
    return client


class CountingExecutor(ThreadPoolExecutor):
    """Counts every piece of work handed to its threads."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.handed = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.handed += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def hand_offs(monkeypatch: pytest.MonkeyPatch) -> CountingExecutor:
    """The database threads, counted (the loop's default executor is set per test)."""
    executor = CountingExecutor()
    monkeypatch.setattr(db_module, "_LOCAL_WORK", executor)
    return executor


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Upload batches the replica's own pass ran (the TXID it started from)."""
    seen: list[int] = []
    real = Replica._upload_batch

    async def counting(self: Replica) -> bool:
        seen.append(self.pos.txid)
        return await real(self)

    monkeypatch.setattr(Replica, "_upload_batch", counting)
    return seen


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


@asynccontextmanager
async def replicating(
    path: Path, replicas: list[tuple[Path, float]], default: CountingExecutor | None = None
) -> AsyncIterator[tuple[DB, list[Replica]]]:
    """A database, its replicas (root, sync interval) started, one pass each made (it
    records the replica's first file), then its monitor and upload loops running."""
    if default is not None:
        asyncio.get_running_loop().set_default_executor(default)
    db = DB(path, DBSettings(monitor_interval=INTERVAL))
    await db.open()
    shared = SharedL0(db) if len(replicas) > 1 else None
    made = [
        Replica(db, file_client(root), ReplicaSettings(sync_interval=interval), name=f"r{i}",
                shared=shared)
        for i, (root, interval) in enumerate(replicas)
    ]  # fmt: skip
    for replica in made:
        await replica.start()
    await db.sync()
    for replica in made:
        await replica.sync()
    db.changed.clear()  # those files are uploaded
    tasks = [asyncio.create_task(db.monitor())]
    tasks += [asyncio.create_task(r.run()) for r in made]
    try:
        yield db, made
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await db.close()


def test_the_thread_that_writes_a_commit_uploads_it(
    tmp_path: Path, hand_offs: CountingExecutor, passes: list[int]
) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
    writers: dict[int, int] = {}
    uploaders: dict[int, int] = {}
    default = CountingExecutor()

    async def main() -> None:
        async with replicating(path, [(tmp_path / "r", INTERVAL)], default) as (db, [replica]):
            syncer = db._syncer
            write_l0 = syncer._write_l0

            def recording_write(*args: Any) -> LTXFileInfo:
                info = write_l0(*args)
                writers[info.max_txid] = threading.get_ident()
                return info

            syncer._write_l0 = recording_write  # type: ignore[method-assign]
            syncs: list[int] = []
            sync = syncer.sync

            def counting_sync(*args: Any) -> LTXFileInfo | None:
                syncs.append(1)
                return sync(*args)

            syncer.sync = counting_sync  # type: ignore[method-assign]
            client = replica.client
            assert isinstance(client, FileReplicaClient)
            write_now = client.write_ltx_file_now

            def recording_upload(level: int, lo: int, hi: int, data: bytes) -> LTXFileInfo:
                uploaders[hi] = threading.get_ident()
                return write_now(level, lo, hi, data)

            client.write_ltx_file_now = recording_upload  # type: ignore[method-assign]
            passes.clear()
            handed, defaults = hand_offs.handed, default.handed
            for _ in range(3):
                txid = db.pos().txid + 1
                app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
                await wait_for(lambda: replica.pos.txid == txid)  # noqa: B023
            assert len(writers) == 3
            # One hand-off per sync and no other: the upload and the local clean-up ran
            # on the sync's thread; the loop's default executor was not used at all.
            assert hand_offs.handed - handed == len(syncs) >= 3
            assert default.handed == defaults
            assert passes == []  # no upload pass woke
            assert not db.changed.is_set()
            assert l0_files(db)[-1].name == f"{db.pos().txid:016x}-{db.pos().txid:016x}.ltx"
            assert len(l0_files(db)) == 1  # uploaded files were removed by that thread

    run(main())
    assert uploaders == writers
    assert threading.get_ident() not in writers.values()


def test_the_local_file_is_durable_before_the_upload_and_the_position_moves_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)
    app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
    steps: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        steps.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}")

    async def main() -> None:
        async with replicating(path, [(tmp_path / "r", INTERVAL)]) as (db, [replica]):
            client = replica.client
            assert isinstance(client, FileReplicaClient)
            write_now = client.write_ltx_file_now

            def upload(level: int, lo: int, hi: int, data: bytes) -> LTXFileInfo:
                steps.append(f"upload {hi} at replica position {replica.pos.txid}")
                info = write_now(level, lo, hi, data)
                steps.append(f"stored {hi}")
                return info

            client.write_ltx_file_now = upload  # type: ignore[method-assign]
            txid = db.pos().txid + 1
            monkeypatch.setattr(os, "fsync", fsync)
            app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
            await wait_for(lambda: replica.pos.txid == txid)
            monkeypatch.setattr(os, "fsync", real_fsync)
            name = f"{txid:016x}-{txid:016x}.ltx"
            local_dir = db.ltx_dir(0)
            remote_dir = tmp_path / "r" / "ltx" / "0"
            upload_at = steps.index(f"upload {txid} at replica position {txid - 1}")
            local = [s for s in steps[:upload_at] if s.startswith("fsync")]
            assert local == [f"fsync {local_dir / name}.tmp", f"fsync {local_dir}"]
            remote = steps[upload_at + 1 : steps.index(f"stored {txid}")]
            assert remote[-1] == f"fsync {remote_dir}"
            assert remote[0].startswith(f"fsync {remote_dir}/") and name in remote[0]

    run(main())


def test_what_the_direct_path_cannot_take_the_pass_uploads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passes: list[int]
) -> None:
    """A failed direct write, a replica with a longer sync interval, and a database
    with two replicas: each commit still reaches every replica, by the pass."""
    path = tmp_path / "app.db"
    app = app_connect(path)
    app.execute("INSERT INTO t (v) VALUES (randomblob(100))")

    async def main() -> None:
        async with replicating(path, [(tmp_path / "r", INTERVAL)]) as (db, [replica]):
            client = replica.client
            assert isinstance(client, FileReplicaClient)
            write_now = client.write_ltx_file_now
            failures = [OSError(5, "I/O error")]

            def failing(level: int, lo: int, hi: int, data: bytes) -> LTXFileInfo:
                if failures:
                    raise failures.pop()
                return write_now(level, lo, hi, data)

            client.write_ltx_file_now = failing  # type: ignore[method-assign]
            passes.clear()
            txid = db.pos().txid + 1
            app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
            await wait_for(lambda: replica.pos.txid == txid)
            assert passes == [txid - 1]  # the failed file went to the pass
            # Healthy again: direct. On a loaded machine the pass's own timer may
            # still win a commit now and then, so one direct file of five proves it.
            for _ in range(5):
                before = len(passes)
                app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
                txid += 1
                await wait_for(lambda: replica.pos.txid == txid)  # noqa: B023
                if len(passes) == before:
                    break
            else:
                pytest.fail(f"no commit went direct after the failure: passes {passes}")

        for replicas in ([(tmp_path / "slow", 2 * INTERVAL)],
                         [(tmp_path / "a", INTERVAL), (tmp_path / "b", INTERVAL)]):  # fmt: skip
            async with replicating(path, replicas) as (db, made):
                assert db.direct_upload is None or len(made) == 1
                passes.clear()
                txid = db.pos().txid + 1
                app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
                await wait_for(lambda: all(r.pos.txid == txid for r in made))  # noqa: B023
                assert len(passes) >= len(made)

    run(main())


def test_a_backend_wrapped_by_another_is_not_written_around(tmp_path: Path) -> None:
    """Only a client the core built for a LOCAL_FILESYSTEM backend takes the path."""

    async def main() -> None:
        db = DB(tmp_path / "app.db")
        assert replica_module.as_direct_writer(FileReplicaClient(tmp_path / "r")) is None
        Replica(db, FileReplicaClient(tmp_path / "r"))
        assert db.direct_upload is None
        Replica(db, file_client(tmp_path / "r"))
        assert db.direct_upload is not None
        # Sealed files: nothing may write or read them around the encrypting client.
        me = Identity.generate()
        sealed = EncryptedReplicaClient(
            file_client(tmp_path / "s"), AgeKeys((me.recipient,), (me,))
        )
        assert Capability.LOCAL_FILESYSTEM not in sealed.capabilities
        assert as_local_replica(InstrumentedClient(sealed, OperationStats())) is None
        other = DB(tmp_path / "other.db")
        Replica(other, sealed)
        assert other.direct_upload is None

    run(main())
