"""Interop with Go Litestream 0.5.17 through the same WsgiDAV server, both ways.

Go replicates, and our client lists and reads its files where Go's client puts them
(``<path>/ltx/<level>/``), gets their exact header times, and our CLI restores them; our
CLI replicates, and the Go binary restores the replica to the same database.
"""

from __future__ import annotations

import io
import sqlite3

import pytest

from litestream_core.ltx import Header, verify_file
from litestream_core.plugins import make_replica_client
from litestream_core.testing.e2e import (
    App,
    Replicate,
    insert_rows,
    ltx_infos,
    read_ltx,
    restore,
    rows,
    wait_for_l0_files,
    write_config,
)
from litestream_core.testing.ltxgen import timestamp_to_datetime

pytestmark = pytest.mark.anyio


def config_lines(dav, path: str) -> list[str]:
    """Go's config keys for a webdav replica given by type, not by URL."""
    return [
        "type: webdav",
        f"webdav-url: {dav.endpoint}",
        f"webdav-username: {dav.options()['webdav-username']}",
        f"webdav-password: {dav.options()['webdav-password']}",
        f"path: {path}",
    ]


async def test_go_replica_is_read_with_exact_timestamps(dav, tmp_path, go_litestream, go_env):
    db = tmp_path / "go.db"
    insert_rows(db, range(1, 51), wal=True)
    config = write_config(
        tmp_path / "go.yml", db, config_lines(dav, "from-go"), monitor_interval=None
    )
    go = Replicate(config, tmp_path / "go.log", env=go_env, litestream=go_litestream)
    client = make_replica_client(dav.url("from-go"), {})
    try:
        await wait_for_l0_files(client, 1, go)
        insert_rows(db, range(51, 61), wal=True)  # a second transaction, a second L0 file
        await wait_for_l0_files(client, 2, go)
    finally:
        go.stop()
    assert (dav.root / "from-go" / "ltx" / "0").is_dir(), "Go's layout: <path>/ltx/<level>/"
    async with client:
        plain, exact = await ltx_infos(client, 0), await ltx_infos(client, 0, use_metadata=True)
        assert len(exact) >= 2, go.output()
        for fast, info in zip(plain, exact, strict=True):
            data = await read_ltx(client, info)
            verify_file(io.BytesIO(data))
            header = Header.decode(data)
            assert (header.min_txid, header.max_txid, len(data)) == (
                info.min_txid,
                info.max_txid,
                info.size,
            )
            # Go keeps no timestamp on a WebDAV server: the header gives the exact one,
            # a plain listing the server's modification time, within seconds of it.
            assert info.created_at == timestamp_to_datetime(header.timestamp)
            assert abs((fast.created_at - info.created_at).total_seconds()) < 60

    out = tmp_path / "ours.db"
    restore(out, "-config", config, db)
    assert rows(out) == rows(db)


async def test_our_replica_is_restored_by_go(dav, tmp_path, go_litestream, go_env):
    db = tmp_path / "app.db"
    app = App(db)
    app.write(5)
    # Ours by URL (credentials in it), Go's by Go's config keys: the same directory.
    config = write_config(tmp_path / "ours.yml", db, [f"url: {dav.url('to-go')}"])
    replicate = Replicate(config, tmp_path / "replicate.log")
    try:
        async with make_replica_client(dav.url("to-go"), {}) as client:
            await wait_for_l0_files(client, 1, replicate)
            app.write(20)
            await wait_for_l0_files(client, 2, replicate)
    finally:
        replicate.stop()
        app.close()
    go_config = write_config(
        tmp_path / "go.yml", db, config_lines(dav, "to-go"), monitor_interval=None
    )
    out = tmp_path / "by-go.db"
    restore(out, "-config", go_config, db, litestream=go_litestream, env=go_env)
    assert rows(out) == rows(db)
    conn = sqlite3.connect(out)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
