"""End to end over Azure Blob Storage: our `litestream replicate` and `restore` with a
YAML config, against Azurite, including a server restart in the middle of replication.
The account key comes from LITESTREAM_AZURE_ACCOUNT_KEY, as Go reads it."""

from __future__ import annotations

import os
from pathlib import Path

from litestream_core.testing import e2e
from litestream_core.testing.e2e import App, Replicate, restore, rows

from .conftest import ACCOUNT, ACCOUNT_KEY


def write_config(tmp_path: Path, db: Path, container: str, server) -> Path:
    replica = [f"url: abs://{ACCOUNT}@{container}/app/db", f"endpoint: {server.endpoint}"]
    return e2e.write_config(
        tmp_path / "litestream.yml", db, replica, top=["shutdown-sync-timeout: 30s"]
    )


def env() -> dict[str, str]:
    return os.environ | {"LITESTREAM_AZURE_ACCOUNT_KEY": ACCOUNT_KEY}


def object_names(server, container: str) -> set[str]:
    client = server.service().get_container_client(container)
    return {b.name for b in client.list_blobs(name_starts_with="app/db/")}


def wait_for_objects(server, bucket: str, minimum: int) -> None:
    e2e.wait_for(
        lambda: len(object_names(server, bucket)) >= minimum,
        f"fewer than {minimum} objects replicated in 30 s",
    )


def test_replicate_and_restore_with_yaml_config(azurite, tmp_path):
    bucket = azurite.make_container()
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket, azurite)
    replicate = Replicate(cfg, tmp_path / "replicate.log", env=env())
    try:
        wait_for_objects(azurite, bucket, 1)
        app.write(40, pause=0.01)
    finally:
        replicate.stop()
    app.close()
    assert all("/ltx/" in name for name in object_names(azurite, bucket))  # Go's abs layout
    out = tmp_path / "restored.db"
    restore(out, "-config", cfg, db, env=env())
    assert rows(out) == rows(db)


def test_server_restart_mid_replication_resumes_without_gap(own_azurite, tmp_path):
    bucket = own_azurite.make_container()
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket, own_azurite)
    replicate = Replicate(cfg, tmp_path / "replicate.log", env=env())
    try:
        wait_for_objects(own_azurite, bucket, 1)
        app.write(10)
        wait_for_objects(own_azurite, bucket, 2)
        own_azurite.stop()
        app.write(30, pause=0.05)
        replicate.assert_running("during the outage")
        own_azurite.start()
        app.write(10, pause=0.02)
    finally:
        replicate.stop()
    app.close()
    out = tmp_path / "restored.db"
    restore(out, "-config", cfg, db, env=env())
    assert rows(out) == rows(db)
    assert len(rows(db)) == 50
