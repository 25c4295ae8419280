"""Interop with the Go Litestream binary through the same nats-server, both ways."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from litestream_core.client import ReplicaURL
from litestream_core.ltx import Header, verify_file
from litestream_core.plugins import make_replica_client
from litestream_core.testing.e2e import (
    Replicate,
    insert_rows,
    ltx_infos,
    read_ltx,
    restore,
    rows,
    wait_for_l0_files,
    write_config,
)
from litestream_core.testing.ltxgen import database_pages, make_ltx_bytes, timestamp_to_datetime

pytestmark = pytest.mark.anyio


def go_config(path: Path, db: Path, server, bucket: str) -> Path:
    return write_config(path, db, [f"url: {server.url}/{bucket}"], monitor_interval=None)


async def test_go_replica_is_read_with_exact_timestamps(
    nats_server, bucket, tmp_path, go_litestream, go_env
):
    db = tmp_path / "go.db"
    insert_rows(db, range(1, 51), wal=True)
    config = go_config(tmp_path / "go.yml", db, nats_server, bucket)
    go = Replicate(config, tmp_path / "go.log", env=go_env, litestream=go_litestream)
    client = make_replica_client(ReplicaURL.parse(f"{nats_server.url}/{bucket}"), {})
    try:
        await wait_for_l0_files(client, 1, go)
        insert_rows(db, range(51, 61), wal=True)  # a second transaction, a second L0 file
        await wait_for_l0_files(client, 2, go)
    finally:
        go.stop()
    async with client:
        plain, exact = await ltx_infos(client, 0), await ltx_infos(client, 0, use_metadata=True)
        assert len(exact) >= 2, (tmp_path / "go.log").read_text()
        assert [i.max_txid for i in exact] == list(range(1, len(exact) + 1))
        for fast, info in zip(plain, exact, strict=True):
            data = await read_ltx(client, info)
            verify_file(io.BytesIO(data))
            header = Header.decode(data)
            assert (header.min_txid, header.max_txid, len(data)) == (
                info.min_txid,
                info.max_txid,
                info.size,
            )
            assert info.created_at == timestamp_to_datetime(header.timestamp)
            assert fast.created_at == info.created_at  # headers come with every listing

    # And our CLI restores what Go replicated, to the same rows as the source.
    out = tmp_path / "ours.db"
    restore(out, "-config", config, db)
    assert rows(out) == rows(db)


async def test_our_snapshot_is_restored_by_go(nats_server, bucket, tmp_path, go_litestream, go_env):
    source = tmp_path / "source.db"
    insert_rows(source, range(1, 301))
    page_size, pages = database_pages(source)
    snapshot = make_ltx_bytes(
        1, 1, page_size=page_size, pages=pages, timestamp_ms=1_700_000_000_321, no_checksum=True
    )
    async with make_replica_client(ReplicaURL.parse(f"{nats_server.url}/{bucket}"), {}) as client:
        await client.write_ltx_file(0, 1, 1, snapshot)

    db = tmp_path / "restored-as.db"
    config = go_config(tmp_path / "go.yml", db, nats_server, bucket)
    out = tmp_path / "out.db"
    restore(out, "-config", config, db, litestream=go_litestream, env=go_env)
    assert out.read_bytes() == source.read_bytes()


async def test_go_and_ours_log_in_with_jwt_seed_and_creds(
    nats_factory, operator_mode, tmp_path, go_litestream, go_env
):
    """The same `jwt`/`seed` and `creds` keys mean the same login to both tools."""
    server = nats_factory("-c", str(operator_mode.conf))
    await server.create_bucket("b", user_credentials=str(operator_mode.creds))
    db = tmp_path / "go.db"
    insert_rows(db, range(1, 41), wal=True)
    login = [f"jwt: {operator_mode.user_jwt}", f"seed: {operator_mode.user_seed}"]
    config = write_config(
        tmp_path / "go.yml", db, [f"url: {server.url}/b", *login], monitor_interval=None
    )
    go = Replicate(config, tmp_path / "go.log", env=go_env, litestream=go_litestream)
    client = make_replica_client(
        ReplicaURL.parse(f"{server.url}/b"), {"creds": str(operator_mode.creds)}
    )
    try:
        await wait_for_l0_files(client, 1, go)
    finally:
        go.stop()
        await client.close()
    out = tmp_path / "ours.db"
    restore(out, "-config", config, db)
    assert rows(out) == rows(db)
