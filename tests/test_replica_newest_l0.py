"""The file a sync just wrote goes to the replica from memory: no thread reads it back.

Each hop between the event loop and a worker thread costs more than the work on a
busy machine, and the upload of a sync's file is on the way of every commit to the
replica (the low-latency setting pays it per commit).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from litestream_file.client import FileReplicaClient

from litestream_core.engine import replica as replica_module
from litestream_core.engine.db import DB
from litestream_core.engine.replica import Replica

sys.path.insert(0, str(Path(__file__).parent))
from test_engine_db_support import (
    app_connect,
    l0_files,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)


def remote_l0(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "ltx" / "0").glob("*.ltx"))}


async def replicating(path: Path, replica_dir: Path) -> tuple[DB, Replica]:
    db = DB(path)
    await db.open()
    replica = Replica(db, FileReplicaClient(replica_dir))
    await replica.start()
    return db, replica


@pytest.fixture
def read_back(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the local files the replica reads back from disk to verify them."""
    seen: list[str] = []
    real = replica_module._verified

    def counting(local: Path, codecs: object) -> object:
        seen.append(local.name)
        return real(local, codecs)  # type: ignore[arg-type]

    monkeypatch.setattr(replica_module, "_verified", counting)
    return seen


def test_a_sync_s_file_is_uploaded_from_memory(tmp_path: Path, read_back: list[str]) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db, replica = await replicating(path, tmp_path / "replica")
        for i in range(3):
            app.execute("INSERT INTO t (v) VALUES (randomblob(200))")
            await db.sync()
            local = {p.name: p.read_bytes() for p in l0_files(db)}
            await replica.sync()
            assert replica.pos == db.pos()
            newest = l0_files(db)[-1].name
            # The very bytes of the local file, which stays until the next one.
            assert remote_l0(tmp_path / "replica")[newest] == local[newest]
            assert db._syncer._newest_l0 is None, f"sync {i}: uploaded bytes still held"
        await db.close()

    run(main())
    assert read_back == []


def test_files_not_held_are_read_back_and_verified(tmp_path: Path, read_back: list[str]) -> None:
    """Older pending files and files over the limit come from disk, checked."""
    path = tmp_path / "app.db"
    app = app_connect(path)

    async def main() -> None:
        db, replica = await replicating(path, tmp_path / "replica")
        for size in (200, 200, 400_000):  # two pending files, then one too large to keep
            app.execute(f"INSERT INTO t (v) VALUES (randomblob({size}))")
            await db.sync()
        names = [p.name for p in l0_files(db)]
        await replica.sync()
        assert replica.pos == db.pos()
        assert read_back == names  # the newest is over the limit: read back too
        app.execute("INSERT INTO t (v) VALUES (randomblob(200))")
        await db.sync()
        await replica.sync()
        assert len(read_back) == len(names)  # small and newest: from memory
        await db.close()

    run(main())
