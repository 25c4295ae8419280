"""Compacted replicas cross between us and the Go binary, both ways, byte for byte."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from litestream_core.engine.compaction import Compactor
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.verify import verify_replica

sys.path.insert(0, str(Path(__file__).parent))
from test_compaction_support import History


def _go_restore(go, env, url: str, out: Path, *extra: str) -> bytes:
    subprocess.run(
        [go, "restore", *extra, "-o", str(out), url],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.read_bytes()


def test_go_restores_a_replica_we_compacted_and_pruned(tmp_path, go_litestream, go_env):
    from litestream_file.client import FileReplicaClient

    history = History(tmp_path / "db.sqlite")
    settings = CompactionSettings(level_intervals=(1.0, 2.0), snapshot_retention=30, l0_retention=5)
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    points: list[int] = []

    async def build() -> None:
        client = FileReplicaClient(tmp_path / "replica")
        await client.init()
        comp = Compactor(client, settings, clock=lambda: clock[0])
        for round_ in range(6):
            await history.upload(client, history.write(5))
            await comp.compact(1)
            if round_ % 2:
                await comp.compact(2)
                await comp.snapshot()
        await history.upload(client, history.write(3))
        # The window starts at TXID 25: the snapshot at 20 is its base, the one at 10 goes.
        clock[0] = history.timestamp(25) + timedelta(seconds=settings.snapshot_retention)
        assert (await comp.enforce_retention()).count > 0
        assert await comp.enforce_l0_retention()
        report = await verify_replica(client)
        assert report.ok, report.problems
        points.extend(p.txid for p in report.points)
        await client.close()

    asyncio.run(build())
    url = f"file://{tmp_path / 'replica'}"
    assert (
        _go_restore(go_litestream, go_env, url, tmp_path / "latest.db")
        == history.states[history.txid]
    )
    assert {20, 25, history.txid} <= set(points)
    for txid in points:  # every retained point, most of them held by compacted levels only
        out = tmp_path / f"{txid}.db"
        got = _go_restore(go_litestream, go_env, url, out, "-txid", f"{txid:016x}")
        assert got == history.states[txid], txid
    history.close()


def test_we_restore_a_replica_the_go_binary_compacted(tmp_path, go_litestream, go_env):
    from litestream_file.client import FileReplicaClient

    from litestream_core.engine.restore import restore

    db = tmp_path / "db.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    conn.commit()
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        "levels:\n  - interval: 1s\n  - interval: 2s\n"
        "snapshot:\n  interval: 2s\n  retention: 1h\n"
        "l0-retention: 1s\nl0-retention-check-interval: 1s\n"
        f"dbs:\n  - path: {db}\n    monitor-interval: 100ms\n"
        f"    replica:\n      url: file://{tmp_path / 'replica'}\n      sync-interval: 100ms\n"
    )
    proc = subprocess.Popen(
        [go_litestream, "replicate", "-config", str(cfg)],
        env=go_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        end = time.monotonic() + 6
        while time.monotonic() < end:
            conn.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(700),))
            conn.commit()
            time.sleep(0.03)
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    url = f"file://{tmp_path / 'replica'}"
    expected = _go_restore(go_litestream, go_env, url, tmp_path / "go.db")

    async def check() -> None:
        client = FileReplicaClient(tmp_path / "replica")
        await client.init()
        levels = {lvl: [f async for f in client.ltx_files(lvl)] for lvl in (1, 2, 9)}
        assert all(levels.values()), "Go compacted into L1, L2 and L9"
        report = await verify_replica(client)
        assert report.ok, report.problems
        await restore(client, tmp_path / "ours.db")
        assert (tmp_path / "ours.db").read_bytes() == expected
        # A point only the compacted levels still hold restores the same with both tools.
        txid = levels[1][len(levels[1]) // 2].max_txid
        await restore(client, tmp_path / "ours-mid.db", txid=txid)
        go_mid = _go_restore(
            go_litestream, go_env, url, tmp_path / "go-mid.db", "-txid", f"{txid:016x}"
        )
        assert (tmp_path / "ours-mid.db").read_bytes() == go_mid
        await client.close()

    asyncio.run(check())
    rows = sqlite3.connect(tmp_path / "ours.db").execute("SELECT count(*) FROM t").fetchone()
    assert rows == conn.execute("SELECT count(*) FROM t").fetchone()
    conn.close()
