"""End to end through our CLI: `litestream replicate` to a real sshd, then restore.

Restores are done by our CLI and by the Go binary from the same replica, and the
server is restarted in the middle of replication to show it resumes without a gap.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from litestream_core.client import ReplicaURL
from litestream_core.plugins import make_replica_client
from litestream_core.testing import e2e
from litestream_core.testing.e2e import (
    App,
    Replicate,
    assert_contiguous,
    l0_ranges,
    restore,
    rows,
    wait_for_l0_files,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def write_config(path: Path, db: Path, replica: list[str]) -> Path:
    return e2e.write_config(path, db, replica, monitor_interval="100ms")


def replica_lines(server, path: Path) -> list[str]:
    return [
        f"url: {server.url(path)}",
        f"key-path: {server.client_key}",
        f"host-key: {server.host_key}",
    ]


async def test_replicate_then_restore_with_ours_and_go(sshd, tmp_path, go_litestream, go_env):
    db = tmp_path / "app.db"
    app = App(db)
    app.write(5)
    replica = sshd.root / "e2e"
    config = write_config(tmp_path / "litestream.yml", db, replica_lines(sshd, replica))
    replicate = Replicate(config, tmp_path / "replicate.log")
    try:
        async with make_replica_client(
            ReplicaURL.parse(sshd.url(replica)), sshd.options()
        ) as client:
            await wait_for_l0_files(client, 1, replicate)
            app.write(20)
    finally:
        replicate.stop()
        app.close()
    expected = rows(db)
    restore(tmp_path / "ours.db", "-config", config, db)
    restore(tmp_path / "go.db", "-config", config, db, litestream=go_litestream, env=go_env)
    assert rows(tmp_path / "ours.db") == expected
    assert rows(tmp_path / "go.db") == expected
    assert (tmp_path / "ours.db").read_bytes() == (tmp_path / "go.db").read_bytes()


async def test_server_restart_mid_replication_resumes_without_gap(private_sshd, tmp_path):
    server = private_sshd
    db = tmp_path / "app.db"
    app = App(db)
    app.write(3)
    replica = server.root / "restart"
    config = write_config(tmp_path / "litestream.yml", db, replica_lines(server, replica))
    url = ReplicaURL.parse(server.url(replica))
    replicate = Replicate(config, tmp_path / "replicate.log")
    try:
        async with make_replica_client(url, server.options()) as client:
            await wait_for_l0_files(client, 1, replicate)
            # Counted while the server is up: once it is back, the replicator may upload
            # everything before the test could list, so a count taken then can be final.
            before = len(await l0_ranges(client))
        server.stop()
        app.write(10)  # written while the server is down
        await asyncio.sleep(1.0)  # the replicator fails and backs off meanwhile
        server.start()
        app.write(10)
        async with make_replica_client(url, server.options()) as client:
            await wait_for_l0_files(client, before + 1, replicate)
    finally:
        replicate.stop()
        app.close()
    async with make_replica_client(url, server.options()) as client:
        assert_contiguous(await l0_ranges(client))
    restore(tmp_path / "restored.db", "-config", config, db)
    assert rows(tmp_path / "restored.db") == rows(db)
    assert [r[0] for r in rows(db)] == list(range(1, 24))
