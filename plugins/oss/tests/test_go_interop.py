"""Interop with Go Litestream 0.5.17's OSS client over the same store, both ways.

Go replicates through its Alibaba SDK (OSS signatures, ``x-oss-meta-*``); our client
finds its files in Go's layout and reads their exact header times from that metadata,
and our CLI restores them. Our CLI replicates, and Go restores the replica, to the
latest state and to a time between two syncs.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime

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


def config_lines(oss, bucket: str, path: str) -> list[str]:
    return [
        "type: oss",
        f"bucket: {bucket}",
        f"path: {path}",
        *(f"{key}: {value}" for key, value in oss.options().items()),
    ]


async def test_go_replica_is_read_with_exact_timestamps(oss, tmp_path, go_litestream, go_env):
    bucket = oss.make_bucket()
    db = tmp_path / "go.db"
    insert_rows(db, range(1, 51), wal=True)
    config = write_config(
        tmp_path / "go.yml", db, config_lines(oss, bucket, "from-go"), monitor_interval=None
    )
    go = Replicate(config, tmp_path / "go.log", env=go_env, litestream=go_litestream)
    client = make_replica_client(f"oss://{bucket}/from-go", oss.options())
    try:
        await wait_for_l0_files(client, 1, go)
        insert_rows(db, range(51, 61), wal=True)
        await wait_for_l0_files(client, 2, go)
    finally:
        go.stop()
    keys = {o["Key"] for o in oss.boto3_client().list_objects_v2(Bucket=bucket)["Contents"]}
    async with client:
        exact = await ltx_infos(client, 0, use_metadata=True)
        assert len(exact) >= 2, go.output()
        for info in exact:
            assert f"from-go/0000/{info.name}" in keys  # Go's layout: %04x levels
            data = await read_ltx(client, info)
            verify_file(io.BytesIO(data))
            header = Header.decode(data)
            assert (header.min_txid, header.max_txid, len(data)) == (
                info.min_txid,
                info.max_txid,
                info.size,
            )
            assert info.created_at == timestamp_to_datetime(header.timestamp)

    out = tmp_path / "ours.db"
    restore(out, "-config", config, db)
    assert rows(out) == rows(db)


async def test_go_restores_our_replica_latest_and_at_a_time(oss, tmp_path, go_litestream, go_env):
    bucket = oss.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    app.write(5)
    lines = config_lines(oss, bucket, "to-go")
    config = write_config(tmp_path / "ours.yml", db, lines)
    replicate = Replicate(config, tmp_path / "replicate.log")
    try:
        async with make_replica_client(f"oss://{bucket}/to-go", oss.options()) as client:
            await wait_for_l0_files(client, 1, replicate)
            first = await ltx_infos(client, 0, use_metadata=True)
            time.sleep(1.1)  # whole seconds apart, for a restore time between the two
            between = datetime.now(UTC)
            time.sleep(1.1)
            app.write(20)
            await wait_for_l0_files(client, len(first) + 1, replicate)
    finally:
        replicate.stop()
        app.close()

    go_config = write_config(tmp_path / "go.yml", db, lines, monitor_interval=None)
    latest = tmp_path / "latest.db"
    restore(latest, "-config", go_config, db, litestream=go_litestream, env=go_env)
    assert rows(latest) == rows(db)

    early = tmp_path / "early.db"
    stamp = between.strftime("%Y-%m-%dT%H:%M:%SZ")
    restore(
        early, "-timestamp", stamp, "-config", go_config, db, litestream=go_litestream, env=go_env
    )
    assert len(rows(early)) == 5, f"Go restored {len(rows(early))} rows at {stamp}"
