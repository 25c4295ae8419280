"""Interop with the Go Litestream binary through the same sshd, both ways."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from litestream_sftp.plugin import make_client

from litestream_core.client import ReplicaURL
from litestream_core.ltx import Header, verify_file
from litestream_core.testing.ltxgen import database_pages, make_ltx_bytes, timestamp_to_datetime

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def go_config(path: Path, db: Path, sshd, replica_path: Path) -> Path:
    path.write_text(
        "dbs:\n"
        f"  - path: {db}\n"
        "    replica:\n"
        f"      url: {sshd.url(replica_path)}\n"
        f"      key-path: {sshd.client_key}\n"
        f"      host-key: {sshd.host_key}\n"
        "      sync-interval: 100ms\n"
    )
    return path


def make_db(path: Path, rows: int, *, wal: bool) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode={'wal' if wal else 'delete'}")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}" * 20,) for i in range(rows)])
    conn.commit()
    conn.close()


def _rows(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


async def _files(client, level, use_metadata=False):
    return [i async for i in client.ltx_files(level, use_metadata=use_metadata)]


async def _read(client, info):
    stream = await client.open_ltx_file(info.level, info.min_txid, info.max_txid)
    async with stream:
        return await stream.readall()


async def test_go_replica_is_read_with_exact_timestamps(sshd, tmp_path, go_litestream, go_env):
    db = tmp_path / "go.db"
    make_db(db, 50, wal=True)
    replica = sshd.root / "from-go"
    config = go_config(tmp_path / "go.yml", db, sshd, replica)
    log = open(tmp_path / "go.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(go_litestream), "replicate", "-config", str(config)],
        env=go_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = make_client(ReplicaURL.parse(sshd.url(replica)), sshd.options())
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if replica.exists() and len(await _files(client, 0)) >= 1:
                break
            await asyncio.sleep(0.2)
        make_db(db, 10, wal=True)  # a second transaction, a second L0 file
        while time.monotonic() < deadline and proc.poll() is None:
            if len(await _files(client, 0)) >= 2:
                break
            await asyncio.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    async with client:
        plain, exact = await _files(client, 0), await _files(client, 0, use_metadata=True)
        assert len(exact) >= 2, (tmp_path / "go.log").read_text()
        assert [i.max_txid for i in exact] == list(range(1, len(exact) + 1))
        for fast, info in zip(plain, exact, strict=True):
            data = await _read(client, info)
            verify_file(io.BytesIO(data))
            header = Header.decode(data)
            assert (header.min_txid, header.max_txid, len(data)) == (
                info.min_txid,
                info.max_txid,
                info.size,
            )
            assert info.created_at == timestamp_to_datetime(header.timestamp)
            assert fast.created_at == info.created_at.replace(microsecond=0)

    # And our CLI restores what Go replicated, to the same rows as the source.
    out = tmp_path / "ours.db"
    ours = Path(sys.executable).parent / "litestream"
    proc = subprocess.run(
        [str(ours), "restore", "-config", str(config), "-o", str(out), str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _rows(out) == _rows(db)


async def test_our_snapshot_is_restored_by_go(sshd, tmp_path, go_litestream, go_env):
    source = tmp_path / "source.db"
    make_db(source, 300, wal=False)
    page_size, pages = database_pages(source)
    snapshot = make_ltx_bytes(
        1, 1, page_size=page_size, pages=pages, timestamp_ms=1_700_000_000_321, no_checksum=True
    )
    replica = sshd.root / "to-go"
    async with make_client(ReplicaURL.parse(sshd.url(replica)), sshd.options()) as client:
        await client.write_ltx_file(0, 1, 1, snapshot)

    db = tmp_path / "restored-as.db"
    config = go_config(tmp_path / "go.yml", db, sshd, replica)
    out = tmp_path / "out.db"
    proc = subprocess.run(
        [str(go_litestream), "restore", "-config", str(config), "-o", str(out), str(db)],
        env=go_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == source.read_bytes()
