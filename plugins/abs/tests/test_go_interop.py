"""Interop with Go Litestream 0.5.17 over the same Azurite server (Go is given the same
endpoint and the account key through LITESTREAM_AZURE_ACCOUNT_KEY): each tool restores
what the other replicated, and our listings report the header times Go stored in its
metadata."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from litestream_core.backend_support.timestamps import ms_to_datetime
from litestream_core.client import SNAPSHOT_LEVEL
from litestream_core.ltx import decode_file
from litestream_core.plugins import make_replica_client
from litestream_core.testing import e2e
from litestream_core.testing.e2e import OUR_LITESTREAM, App, Replicate, rows, write_config

from .conftest import ACCOUNT, ACCOUNT_KEY

pytestmark = pytest.mark.anyio


def replicate(
    binary: Path, db: Path, url: str, endpoint: str, env: dict[str, str], app: App, until
) -> None:
    """Run ``binary replicate`` on ``db`` while the app writes, until ``until()`` holds."""
    replica = [f"url: {url}", f"endpoint: {endpoint}"]
    cfg = write_config(db.with_suffix(".yml"), db, replica, monitor_interval=None)
    process = Replicate(cfg, db.with_suffix(".log"), env=env, litestream=binary)
    try:
        deadline = time.monotonic() + 30
        while not until():
            assert time.monotonic() < deadline, "replication did not catch up in 30 s"
            app.write(1)
            time.sleep(0.2)
    finally:
        process.stop()


def restore(binary: Path, db: Path, out: Path, env: dict[str, str]) -> None:
    """Restore through the config ``replicate`` wrote (the endpoint is a config key)."""
    e2e.restore(out, "-config", db.with_suffix(".yml"), db, litestream=binary, env=env)


async def test_each_restores_what_the_other_replicated(
    azurite, go_litestream, tmp_path, anyio_backend
):
    container = azurite.make_container()
    env = os.environ | {"LITESTREAM_AZURE_ACCOUNT_KEY": ACCOUNT_KEY}
    service = azurite.service().get_container_client(container)
    names = lambda: {b.name for b in service.list_blobs()}  # noqa: E731

    # Go replicates; we list, read and restore.
    go_db = tmp_path / "go.db"
    app = App(go_db)
    go_url = f"abs://{ACCOUNT}@{container}/from-go"
    replicate(go_litestream, go_db, go_url, azurite.endpoint, env, app, lambda: len(names()) >= 3)
    app.close()
    client = make_replica_client(go_url, azurite.options())
    for level in (0, SNAPSHOT_LEVEL):
        infos = [i async for i in client.ltx_files(level)]
        assert infos, f"Go wrote nothing at level {level}"
        for info in infos:
            assert f"from-go/ltx/{level}/{info.name}" in names()
            stream = await client.open_ltx_file(level, info.min_txid, info.max_txid)
            async with stream:
                header, _, _ = decode_file(await stream.readall())
            assert info.created_at == ms_to_datetime(header.timestamp)
    await client.close()
    ours = tmp_path / "ours-from-go.db"
    restore(OUR_LITESTREAM, go_db, ours, env)
    assert rows(ours) == rows(go_db)

    # We replicate; Go restores.
    our_db = tmp_path / "ours.db"
    app = App(our_db)
    our_url = f"abs://{ACCOUNT}@{container}/from-us"
    ours_done = lambda: sum("from-us/" in n for n in names()) >= 3  # noqa: E731
    replicate(OUR_LITESTREAM, our_db, our_url, azurite.endpoint, env, app, ours_done)
    app.close()
    gos = tmp_path / "go-from-us.db"
    restore(go_litestream, our_db, gos, env)
    assert rows(gos) == rows(our_db)
