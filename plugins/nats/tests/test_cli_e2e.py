"""End to end through our CLI: `litestream replicate` to a real nats-server, then restore.

Restores are done by our CLI and by the Go binary from the same replica, and the
server is restarted in the middle of replication to show it resumes without a gap.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from litestream_nats.plugin import make_client

from litestream_core.client import ReplicaURL

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OURS = Path(sys.executable).parent / "litestream"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write_config(path: Path, db: Path, replica_lines: list[str]) -> Path:
    lines = [
        "dbs:",
        f"  - path: {db}",
        "    monitor-interval: 100ms",
        "    replica:",
        *(f"      {line}" for line in replica_lines),
        "      sync-interval: 100ms",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def insert(db: Path, first: int, count: int) -> None:
    """One transaction per row, so each may become its own LTX file."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    for i in range(first, first + count):
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, f"value {i}" * 10))
        conn.commit()
    conn.close()


def rows(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


class Replicator:
    """Our `litestream replicate` as a child process."""

    def __init__(self, config: Path, log: Path) -> None:
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.log = log
        self.proc = subprocess.Popen(
            [str(OURS), "replicate", "-config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        """SIGTERM: the final sync runs before it exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        finally:
            self._log.close()
        assert code == 0, self.log.read_text()


def restore_ours(config: Path, db: Path, out: Path) -> None:
    proc = subprocess.run(
        [str(OURS), "restore", "-config", str(config), "-o", str(out), str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def restore_go(go: Path, env, config: Path, db: Path, out: Path) -> None:
    proc = subprocess.run(
        [str(go), "restore", "-config", str(config), "-o", str(out), str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


async def l0_files(client) -> list[tuple[int, int]]:
    return [(i.min_txid, i.max_txid) async for i in client.ltx_files(0)]


async def wait_for_files(client, count: int, replicator: Replicator) -> None:
    deadline = time.monotonic() + 30
    while len(await l0_files(client)) < count:
        assert replicator.proc.poll() is None, replicator.log.read_text()
        assert time.monotonic() < deadline, "replication did not reach the server"
        await asyncio.sleep(0.1)


def assert_contiguous(files: list[tuple[int, int]]) -> None:
    assert files, "no L0 files"
    assert files[0][0] == 1
    for (_, prev_max), (lo, _) in itertools.pairwise(files):
        assert lo == prev_max + 1, f"gap or overlap in L0 TXIDs: {files}"


async def test_replicate_then_restore_with_ours_and_go(
    nats_server, bucket, tmp_path, go_litestream, go_env
):
    db = tmp_path / "app.db"
    insert(db, 0, 5)
    url = f"{nats_server.url}/{bucket}"
    config = write_config(tmp_path / "litestream.yml", db, [f"url: {url}"])
    replicator = Replicator(config, tmp_path / "replicate.log")
    try:
        async with make_client(ReplicaURL.parse(url), {}) as client:
            await wait_for_files(client, 1, replicator)
            insert(db, 5, 20)
    finally:
        replicator.stop()
    expected = rows(db)
    restore_ours(config, db, tmp_path / "ours.db")
    restore_go(go_litestream, go_env, config, db, tmp_path / "go.db")
    assert rows(tmp_path / "ours.db") == expected
    assert rows(tmp_path / "go.db") == expected
    assert (tmp_path / "ours.db").read_bytes() == (tmp_path / "go.db").read_bytes()


async def test_server_restart_mid_replication_resumes_without_gap(nats_factory, tmp_path):
    server = nats_factory()
    await server.create_bucket("restart")
    db = tmp_path / "app.db"
    insert(db, 0, 3)
    url = ReplicaURL.parse(f"{server.url}/restart")
    lines = [f"url: {server.url}/restart", "timeout: 1s", "reconnect-wait: 100ms"]
    config = write_config(tmp_path / "litestream.yml", db, lines)
    replicator = Replicator(config, tmp_path / "replicate.log")
    try:
        async with make_client(url, {}) as client:
            await wait_for_files(client, 1, replicator)
        server.stop()
        insert(db, 3, 10)  # written while the server is down
        await asyncio.sleep(2.5)  # longer than the 1s timeout: the replicator's uploads fail
        server.start()
        insert(db, 13, 10)
        async with make_client(url, {}) as client:
            before = len(await l0_files(client))
            await wait_for_files(client, before + 1, replicator)
    finally:
        replicator.stop()
    async with make_client(url, {}) as client:
        assert_contiguous(await l0_files(client))
    restore_ours(config, db, tmp_path / "restored.db")
    assert rows(tmp_path / "restored.db") == rows(db)
    assert [r[0] for r in rows(db)] == list(range(23))
