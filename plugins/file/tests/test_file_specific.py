"""What only the file backend promises: Go's layout and interop with the Go binary."""

from __future__ import annotations

import errno
import io
import os
import signal
import sqlite3
import stat
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestream_file.client import FileReplicaClient

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaURL
from litestream_core.errors import (
    ConfigError,
    LTXNotFoundError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.ltx import Header, verify_file
from litestream_core.testing import make_ltx_bytes, timestamp_to_datetime
from litestream_core.testing.e2e import insert_rows, rows
from litestream_core.testing.ltxgen import database_pages

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "options", "expected"),
    [
        ("file:///var/backups/db", {}, "/var/backups/db"),
        ("/var/backups/db", {}, "/var/backups/db"),
        ("relative/dir", {}, "relative/dir"),
        ("file://var/backups/db", {}, "/var/backups/db"),  # Go: the host joins the path
        ("file:///ignored", {"path": "/from/config"}, "/from/config"),
    ],
)
def test_from_url_accepts_go_spellings(url, options, expected):
    client = FileReplicaClient.from_url(ReplicaURL.parse(url), options)
    assert client.path == Path(expected)


def test_from_url_without_path_is_a_config_error():
    with pytest.raises(ConfigError):
        FileReplicaClient.from_url(ReplicaURL.parse("file://"), {})


async def test_layout_matches_go(tmp_path):
    async with FileReplicaClient(tmp_path) as client:
        await client.write_ltx_file(0, 0x1A, 0x2B, make_ltx_bytes(0x1A, 0x2B))
        await client.write_ltx_file(SNAPSHOT_LEVEL, 1, 0x2B, make_ltx_bytes(1, 0x2B))
    found = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert found == [
        "ltx/0/000000000000001a-000000000000002b.ltx",
        "ltx/9/0000000000000001-000000000000002b.ltx",
    ]


async def test_levels_lists_the_level_directories_only(tmp_path):
    """One scan tells a probe which levels to list (a fresh replica: none)."""
    async with FileReplicaClient(tmp_path) as client:
        assert await client.ltx_levels() == []
        await client.write_ltx_file(SNAPSHOT_LEVEL, 1, 2, make_ltx_bytes(1, 2))
        await client.write_ltx_file(0, 3, 3, make_ltx_bytes(3, 3))
        (tmp_path / "ltx" / "notes").mkdir()
        (tmp_path / "ltx" / "12").write_bytes(b"a file, not a level")
        assert await client.ltx_levels() == [0, SNAPSHOT_LEVEL]


async def test_mtime_is_header_timestamp_and_temp_files_are_ignored(tmp_path):
    stamp = 1_650_000_000_456
    async with FileReplicaClient(tmp_path) as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1, timestamp_ms=stamp))
        (tmp_path / "ltx" / "0" / ".0000000000000002-0000000000000002.ltx.x.tmp").write_bytes(b"x")
        (tmp_path / "ltx" / "0" / "0000000000000003-0000000000000003.ltx.tmp").write_bytes(b"x")
        path = tmp_path / "ltx" / "0" / "0000000000000001-0000000000000001.ltx"
        assert path.stat().st_mtime_ns == stamp * 1_000_000
        infos = [i async for i in client.ltx_files(0)]
        assert [(i.min_txid, i.created_at) for i in infos] == [(1, timestamp_to_datetime(stamp))]


async def test_metadata_listing_reads_header_when_mtime_was_lost(tmp_path):
    """A replica copied without preserving times still restores to the right time."""
    stamp = 1_650_000_000_456
    async with FileReplicaClient(tmp_path) as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1, timestamp_ms=stamp))
        path = tmp_path / "ltx" / "0" / "0000000000000001-0000000000000001.ltx"
        os.utime(path)  # now, as `cp` without -p would leave it
        (meta,) = [i async for i in client.ltx_files(0, use_metadata=True)]
        (plain,) = [i async for i in client.ltx_files(0)]
    assert meta.created_at == timestamp_to_datetime(stamp)
    assert plain.created_at > timestamp_to_datetime(stamp)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
async def test_permission_denied_is_a_replica_permission_error(tmp_path):
    async with FileReplicaClient(tmp_path / "replica") as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        level_dir = tmp_path / "replica" / "ltx" / "0"
        level_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            with pytest.raises(ReplicaPermissionError) as info:
                await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))
            assert isinstance(info.value, PermissionError)
            assert [i.min_txid async for i in client.ltx_files(0)] == [1]
        finally:
            level_dir.chmod(stat.S_IRWXU)


async def test_os_errors_become_replica_client_errors(tmp_path):
    (tmp_path / "ltx").write_bytes(b"not a directory")
    async with FileReplicaClient(tmp_path) as client:
        with pytest.raises(ReplicaClientError) as info:
            await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert str(tmp_path) in info.value.one_line()
        with pytest.raises(ReplicaClientError):
            [i async for i in client.ltx_files(0)]


@pytest.mark.parametrize(
    ("op", "code", "expected"),
    [
        ("open", errno.ENOENT, LTXNotFoundError),
        ("open", errno.EACCES, ReplicaPermissionError),
        ("write", errno.EPERM, ReplicaPermissionError),
        ("write", errno.EIO, TransientReplicaError),
        ("write", errno.ENOSPC, ReplicaClientError),
    ],
)
async def test_errno_translation(tmp_path, op, code, expected):
    """Runs as root too, where the chmod test above cannot provoke EACCES."""

    def fails():
        raise OSError(code, os.strerror(code))

    client = FileReplicaClient(tmp_path)
    with pytest.raises(expected) as info:
        await client._run(op, fails, level=0, min_txid=1, max_txid=2)
    assert type(info.value.__cause__) is type(OSError(code, ""))
    assert "0000000000000001-0000000000000002.ltx" in info.value.one_line()
    if code == errno.ENOSPC:
        assert "disk is full" in info.value.one_line()


async def test_go_restores_a_replica_we_wrote(tmp_path, go_litestream, go_env):
    source = tmp_path / "source.db"
    insert_rows(source, range(1, 300))
    page_size, pages = database_pages(source)
    # Go 0.5.17 restores only checksum-free files as the newest file; it writes those too.
    snapshot = make_ltx_bytes(
        1,
        5,
        page_size=page_size,
        pages=pages,
        timestamp_ms=int(time.time() * 1000),
        no_checksum=True,
    )
    replica = tmp_path / "replica"
    async with FileReplicaClient(replica) as client:
        await client.write_ltx_file(SNAPSHOT_LEVEL, 1, 5, snapshot)

    restored = tmp_path / "restored.db"
    proc = subprocess.run(
        [str(go_litestream), "restore", "-o", str(restored), f"file://{replica}"],
        env=go_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert rows(restored) == rows(source)


async def test_we_list_files_go_wrote_with_exact_header_timestamps(tmp_path, go_litestream, go_env):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    insert_rows(db, range(1, 50))
    replica = tmp_path / "replica"
    level0 = replica / "ltx" / "0"
    proc = subprocess.Popen(
        [str(go_litestream), "replicate", str(db), f"file://{replica}"],
        env=go_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for batch in range(3):
            seen = len(list(level0.glob("*.ltx")))
            insert_rows(db, range(100 * (batch + 1), 100 * (batch + 1) + 30))
            deadline = time.monotonic() + 30
            while len(list(level0.glob("*.ltx"))) <= seen and time.monotonic() < deadline:
                assert proc.poll() is None, "Go litestream exited early"
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert len(list(level0.glob("*.ltx"))) >= 3, stderr.decode(errors="replace")

    before = datetime.now(UTC)
    async with FileReplicaClient.from_url(ReplicaURL.parse(f"file://{replica}"), {}) as client:
        for use_metadata in (False, True):
            infos = [i async for i in client.ltx_files(0, use_metadata=use_metadata)]
            assert len(infos) >= 3
            assert [i.min_txid for i in infos] == sorted(i.min_txid for i in infos)
            for info in infos:
                stream = await client.open_ltx_file(0, info.min_txid, info.max_txid)
                async with stream:
                    data = await stream.readall()
                header = Header.decode(data)
                assert (header.min_txid, header.max_txid) == (info.min_txid, info.max_txid)
                assert info.size == len(data)
                assert info.created_at == timestamp_to_datetime(header.timestamp)
                assert info.created_at <= before
                verify_file(io.BytesIO(data))
