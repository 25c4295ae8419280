"""End to end over GCS: our `litestream replicate` and `restore` with a YAML config,
against fake-gcs-server, including a server restart in the middle of replication."""

from __future__ import annotations

import os
from pathlib import Path

from litestream_core.testing import e2e
from litestream_core.testing.e2e import App, Replicate, restore, rows


def write_config(tmp_path: Path, db: Path, bucket: str) -> Path:
    replica = [f"url: gs://{bucket}/app/db"]
    return e2e.write_config(
        tmp_path / "litestream.yml", db, replica, top=["shutdown-sync-timeout: 30s"]
    )


def env(server) -> dict[str, str]:
    return os.environ | {"STORAGE_EMULATOR_HOST": server.endpoint}


def object_names(server, bucket: str) -> set[str]:
    return {b.name for b in server.sdk_client().list_blobs(bucket, prefix="app/db/")}


def wait_for_objects(server, bucket: str, minimum: int) -> None:
    e2e.wait_for(
        lambda: len(object_names(server, bucket)) >= minimum,
        f"fewer than {minimum} objects replicated in 30 s",
    )


def test_replicate_and_restore_with_yaml_config(gcs, tmp_path):
    bucket = gcs.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket)
    replicate = Replicate(cfg, tmp_path / "replicate.log", env=env(gcs))
    try:
        wait_for_objects(gcs, bucket, 1)
        app.write(40, pause=0.01)
    finally:
        replicate.stop()
    app.close()
    assert all("/ltx/" in name for name in object_names(gcs, bucket))  # Go's gs layout
    out = tmp_path / "restored.db"
    restore(out, "-config", cfg, db, env=env(gcs))
    assert rows(out) == rows(db)


def test_server_restart_mid_replication_resumes_without_gap(own_gcs, tmp_path):
    bucket = own_gcs.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket)
    replicate = Replicate(cfg, tmp_path / "replicate.log", env=env(own_gcs))
    try:
        wait_for_objects(own_gcs, bucket, 1)
        app.write(10)
        wait_for_objects(own_gcs, bucket, 2)
        own_gcs.stop()
        app.write(30, pause=0.05)
        replicate.assert_running("during the outage")
        own_gcs.start()
        app.write(10, pause=0.02)
    finally:
        replicate.stop()
    app.close()
    out = tmp_path / "restored.db"
    restore(out, "-config", cfg, db, env=env(own_gcs))
    assert rows(out) == rows(db)
    assert len(rows(db)) == 50
