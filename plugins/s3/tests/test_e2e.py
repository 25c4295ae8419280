"""End to end over S3: our `litestream replicate` and `restore` with a YAML config,
against moto, checked against the source database and against Go's restore."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from litestream_core._version import __version__
from litestream_core.engine.identity import IDENTITY_LEVEL
from litestream_core.testing import e2e
from litestream_core.testing.e2e import (
    App,
    Replicate,
    installed_bytes,
    restore,
    rows,
    venv_with_wheels,
)
from litestream_core.testing.fault_proxy import FaultProxy

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def write_config(
    tmp_path: Path, db: Path, bucket: str, endpoint: str, name: str = "litestream.yml"
) -> Path:
    replica = ["type: s3", f"bucket: {bucket}", "path: app/db", f"endpoint: {endpoint}"]
    return e2e.write_config(tmp_path / name, db, replica, top=["shutdown-sync-timeout: 30s"])


def env() -> dict[str, str]:
    """Credentials the way users of S3-compatible stores give them."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return base | {
        "LITESTREAM_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "LITESTREAM_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }


def go_restore(go: Path, go_env: dict[str, str], bucket: str, endpoint: str, out: Path) -> None:
    e2e.restore(out, f"s3://{bucket}/app/db?endpoint={endpoint}", litestream=go, env=go_env)


def object_keys(moto, bucket: str) -> set[str]:
    """The replica's data files, levels 0 to 9: not the identity (level 10) nor the lease
    (level 11), which replicate writes at start-up before any database file."""
    listing = moto.boto3_client().list_objects_v2(Bucket=bucket, Prefix="app/db/")
    keys = (o["Key"] for o in listing.get("Contents", ()))
    return {k for k in keys if int(k.split("/")[2], 16) < IDENTITY_LEVEL}


def wait_for_objects(moto, bucket: str, minimum: int) -> None:
    e2e.wait_for(
        lambda: len(object_keys(moto, bucket)) >= minimum,
        f"fewer than {minimum} objects replicated in 30 s",
    )


def test_replicate_and_restore_with_yaml_config(moto, go_litestream, go_env, tmp_path):
    bucket = moto.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    app.write(5)
    cfg = write_config(tmp_path, db, bucket, moto.endpoint)
    replicate = Replicate(cfg, tmp_path / "replicate.log", env=env())
    try:
        wait_for_objects(moto, bucket, 1)
        app.write(40, pause=0.01)
    finally:
        replicate.stop()
    app.close()

    ours, by_url, gos = tmp_path / "ours.db", tmp_path / "by-url.db", tmp_path / "go.db"
    restore(ours, "-config", cfg, db, env=env())
    host = moto.endpoint.removeprefix("http://")  # Go adds http:// for a local host
    restore(by_url, f"s3://{bucket}/app/db?endpoint={host}&region=us-east-1", env=env())
    go_restore(go_litestream, go_env, bucket, moto.endpoint, gos)
    assert rows(ours) == rows(by_url) == rows(gos) == rows(db)


def test_outage_mid_replication_resumes_without_gap(moto, go_litestream, go_env, tmp_path):
    bucket = moto.make_bucket()
    proxy = FaultProxy(moto.port)
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket, proxy.endpoint)
    replicate = Replicate(cfg, tmp_path / "replicate.log", env=env())
    try:
        wait_for_objects(moto, bucket, 1)
        app.write(10)
        wait_for_objects(moto, bucket, 2)
        proxy.refuse()  # the server is gone while the application keeps writing
        time.sleep(0.5)  # let an upload already handed to moto land
        before = object_keys(moto, bucket)
        app.write(30, pause=0.05)
        assert object_keys(moto, bucket) == before  # nothing got through: a real outage
        replicate.assert_running("during the outage")
        proxy.heal()
        app.write(10, pause=0.02)
    finally:
        replicate.stop()
        proxy.close()
    app.close()

    ours, gos = tmp_path / "ours.db", tmp_path / "go.db"
    direct = write_config(tmp_path, db, bucket, moto.endpoint, "direct.yml")
    restore(ours, "-config", direct, db, env=env())
    # Go refuses a replica whose TXIDs do not join up ("non-contiguous ltx files").
    go_restore(go_litestream, go_env, bucket, moto.endpoint, gos)
    assert rows(ours) == rows(db) == rows(gos)
    assert len(rows(db)) == 50


CORE_S3_TARGET_MB = 70
"""issue 16: `pip install litestream-core litestream-s3` installs at most 70 MB (10^6 bytes)."""


def test_core_and_s3_wheels_alone_replicate_to_s3(moto, tmp_path, workspace_dists):
    """`pip install litestream-core litestream-s3` and nothing else is enough, and small.

    The wheels were built from the sdists (``workspace_dists``), the venv is outside the
    workspace; tests/test_wheels.py checks the distributions themselves.
    """
    root = Path(__file__).resolve().parents[3]
    packages = ("litestream-core", "litestream-s3")
    venv = venv_with_wheels(root, packages, tmp_path, dists=workspace_dists)
    size = installed_bytes(venv) / 1e6
    assert size <= CORE_S3_TARGET_MB, f"core + s3 install {size:.2f} MB"
    python = venv / "bin" / "python"
    version = subprocess.run(
        [venv / "bin" / "litestream", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == __version__
    usage = subprocess.run(
        [python, "-m", "litestream_core", "--help"], capture_output=True, text=True, check=True
    )
    assert usage.stdout.startswith("Usage: litestream ")
    uv = shutil.which("uv")
    assert uv is not None
    installed = subprocess.run(
        [uv, "pip", "list", "--python", str(python), "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "litestream-s3" in installed and "litestream-file" not in installed, installed

    bucket = moto.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    app.write(10)
    cfg = write_config(tmp_path, db, bucket, moto.endpoint)
    litestream = venv / "bin" / "litestream"
    replicate = Replicate(cfg, tmp_path / "replicate.log", env=env(), litestream=litestream)
    try:
        wait_for_objects(moto, bucket, 1)
        app.write(10)
    finally:
        replicate.stop()
    app.close()
    out = tmp_path / "restored.db"
    restore(out, "-config", cfg, db, litestream=litestream, env=env())
    assert rows(out) == rows(db)
