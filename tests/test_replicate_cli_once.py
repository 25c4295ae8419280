"""``litestream replicate -once`` with ``-force-snapshot`` and ``-enforce-retention``, and
the order of shutdown: background compaction stops before the replica client closes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import Writer, litestream, rows_of, write_config

from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.replica import Replica
from litestream_core.engine.store import Entry, Store
from litestream_core.testing.memory import MemoryReplicaClient


def ltx_names(replica: Path, level: int) -> set[str]:
    return {p.name for p in (replica / "ltx" / str(level)).glob("*.ltx")}


def max_txid(names: set[str]) -> int:
    return max(int(n.split("-")[1].split(".")[0], 16) for n in names)


def once(cfg: Path, *flags: str) -> None:
    result = litestream("replicate", "-once", *flags, "-config", str(cfg))
    assert result.returncode == 0, result.stderr


def restore_rows(tmp_path: Path, replica: Path) -> list[tuple]:
    out = tmp_path / "restored.db"
    out.unlink(missing_ok=True)
    result = litestream("restore", "-o", str(out), "-integrity-check", "full", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    return rows_of(out)


def test_first_once_uploads_l0_only_and_compacts_once_the_interval_passed(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    levels = "levels:\n  - interval: 2s\n  - interval: 2s\n  - interval: 1h\n"
    cfg = write_config(tmp_path, db, replica, extra=levels)
    writer = Writer(db)
    writer.step(10)
    once(cfg)
    uploaded = ltx_names(replica, 0)
    assert min(int(n.split("-")[0], 16) for n in uploaded) == 1  # the whole database
    for level in (1, 2, 3, 9):
        assert not ltx_names(replica, level), f"a first -once wrote level {level}"

    time.sleep(2.1)  # past the L1 and L2 intervals since the first upload
    writer.step(10)
    once(cfg)
    (l1,) = ltx_names(replica, 1)
    assert l1.startswith("0000000000000001-") and max_txid({l1}) == max_txid(ltx_names(replica, 0))
    assert not ltx_names(replica, 2)  # its only source was just written
    assert not ltx_names(replica, 9)  # L0 starts at TXID 1: no snapshot due for 24h
    assert restore_rows(tmp_path, replica) == writer.rows()
    writer.close()


def test_once_snapshots_only_when_forced_or_due(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    cfg = write_config(tmp_path, db, replica)
    writer = Writer(db)
    writer.step(10)
    once(cfg)
    writer.step(10)
    once(cfg)
    assert not ltx_names(replica, 9)  # the replica's base was uploaded; none due for 24h

    writer.step(10)
    once(cfg, "-force-snapshot")
    first = ltx_names(replica, 9)
    assert len(first) == 1
    assert max_txid(first) == max_txid(ltx_names(replica, 0))  # at the uploaded position
    writer.step(10)
    once(cfg)
    assert ltx_names(replica, 9) == first  # the next one is not due for 24h
    assert restore_rows(tmp_path, replica) == writer.rows()
    writer.close()


def test_once_enforce_retention_deletes_expired_snapshots(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    cfg = write_config(tmp_path, db, replica, extra="snapshot:\n  retention: 1s\n")
    writer = Writer(db)
    writer.step(10)
    once(cfg, "-force-snapshot")
    first = ltx_names(replica, 9)
    writer.step(10)
    once(cfg, "-force-snapshot")
    second = ltx_names(replica, 9) - first
    time.sleep(1.2)  # both are past their retention; the second is the base of what is kept
    writer.step(5)
    once(cfg)
    assert ltx_names(replica, 9) == first | second  # nothing deleted without the flag
    once(cfg, "-enforce-retention")
    assert ltx_names(replica, 9) == second
    assert restore_rows(tmp_path, replica) == writer.rows()
    writer.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-force-snapshot"], "Error: cannot specify -force-snapshot flag without -once"),
        (["-enforce-retention"], "Error: cannot specify -enforce-retention flag without -once"),
        (["-once", "-exec", "true"], "Error: cannot specify -once flag with -exec"),
    ],
)
def test_one_shot_flags_need_once_and_no_exec(tmp_path, flags, message):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(3)
    cfg = write_config(tmp_path, db, replica)
    result = litestream("replicate", *flags, "-config", str(cfg), timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [message]
    assert not replica.exists()
    writer.close()


def test_once_refuses_exec_from_the_config(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(3)
    cfg = write_config(tmp_path, db, replica, extra="exec: sleep 60\n")
    result = litestream("replicate", "-once", "-config", str(cfg), timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["Error: cannot specify -once flag with -exec"]
    writer.close()


class _ClosingClient(MemoryReplicaClient):
    """Records whether the watched compactor tasks had finished when it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.watched: list[asyncio.Task[None]] = []
        self.compaction_done_at_close: bool | None = None

    async def close(self) -> None:
        if self.compaction_done_at_close is None:
            self.compaction_done_at_close = all(t.done() for t in self.watched)
        await super().close()


def test_shutdown_stops_compaction_before_closing_the_client(tmp_path):
    async def main():
        writer = Writer(tmp_path / "app.db")
        writer.step(5)
        client = _ClosingClient()
        db = DB(tmp_path / "app.db", DBSettings(monitor_interval=0.05))
        settings = CompactionSettings(level_intervals=(0.05,), l0_retention=0.1,
                                      l0_retention_check_interval=0.05)  # fmt: skip
        store = Store([Entry(db, Replica(db, client), Compactor(client, settings, db=db))])
        await store.open()
        client.watched = [t for t in store.entries[0].tasks if t.get_name().startswith("compactor")]
        assert len(client.watched) == 1 and not client.watched[0].done()
        await asyncio.sleep(0.3)  # compaction runs on its schedule meanwhile
        assert await store.close()
        assert client.compaction_done_at_close is True
        assert client.watched[0].cancelled()
        writer.close()

    asyncio.run(main())
