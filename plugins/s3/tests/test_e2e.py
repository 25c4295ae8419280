"""End to end over S3: our `litestream replicate` and `restore` with a YAML config,
against moto, checked against the source database and against Go's restore."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, TCPProxy

LITESTREAM = Path(sys.executable).with_name("litestream")


class App:
    """The application: autocommit inserts of multi-page rows, in WAL mode."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")

    def write(self, n: int, pause: float = 0.0) -> None:
        for _ in range(n):
            self.conn.execute("INSERT INTO t (body) VALUES (randomblob(6000))")
            time.sleep(pause)

    def close(self) -> None:
        self.conn.close()


def rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def write_config(
    tmp_path: Path, db: Path, bucket: str, endpoint: str, name: str = "litestream.yml"
) -> Path:
    cfg = tmp_path / name
    cfg.write_text(
        "shutdown-sync-timeout: 30s\n"
        f"dbs:\n  - path: {db}\n    monitor-interval: 50ms\n    replica:\n"
        f"      type: s3\n      bucket: {bucket}\n      path: app/db\n"
        f"      endpoint: {endpoint}\n      sync-interval: 100ms\n"
    )
    return cfg


def env() -> dict[str, str]:
    """Credentials the way users of S3-compatible stores give them."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return base | {
        "LITESTREAM_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "LITESTREAM_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }


# Our CLI's entry point, with every thread's stack dumped on SIGUSR1 for hang reports.
DIAGNOSABLE = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True);"
    "sys.argv[0] = 'litestream'; from litestream_core.cli import main; main()"
)


def start_replicate(litestream: Path | None, cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    """``litestream replicate``: the given console script, else our entry point."""
    argv = [str(litestream)] if litestream else [sys.executable, "-c", DIAGNOSABLE]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*argv, "replicate", "-config", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env(),
        )


def stop_replicate(proc: subprocess.Popen[bytes], log: Path) -> None:
    assert proc.poll() is None, f"replicate exited early:\n{log.read_text()}"
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        proc.kill()
        proc.wait()
        pytest.fail(f"replicate did not stop within 60 s of SIGTERM:\n{log.read_text()}")
    assert code == 0, log.read_text()


def restore(litestream: Path | str, cfg: Path, db: Path, out: Path) -> None:
    proc = subprocess.run(
        [str(litestream), "restore", "-config", str(cfg), "-o", str(out), str(db)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def go_restore(go: Path, go_env: dict[str, str], bucket: str, endpoint: str, out: Path) -> None:
    url = f"s3://{bucket}/app/db?endpoint={endpoint}"
    proc = subprocess.run(
        [str(go), "restore", "-o", str(out), url],
        capture_output=True,
        text=True,
        env=go_env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def object_keys(moto, bucket: str) -> set[str]:
    listing = moto.boto3_client().list_objects_v2(Bucket=bucket, Prefix="app/db/")
    return {o["Key"] for o in listing.get("Contents", ())}


def wait_for_objects(moto, bucket: str, minimum: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(object_keys(moto, bucket)) >= minimum:
            return
        time.sleep(0.1)
    pytest.fail(f"fewer than {minimum} objects replicated in 30 s")


def test_replicate_and_restore_with_yaml_config(moto, go_litestream, go_env, tmp_path):
    bucket = moto.make_bucket()
    db = tmp_path / "app.db"
    app = App(db)
    app.write(5)
    cfg = write_config(tmp_path, db, bucket, moto.endpoint)
    log = tmp_path / "replicate.log"
    proc = start_replicate(None, cfg, log)
    try:
        wait_for_objects(moto, bucket, 1)
        app.write(40, pause=0.01)
    finally:
        stop_replicate(proc, log)
    app.close()

    ours, by_url, gos = tmp_path / "ours.db", tmp_path / "by-url.db", tmp_path / "go.db"
    restore(LITESTREAM, cfg, db, ours)
    host = moto.endpoint.removeprefix("http://")  # Go adds http:// for a local host
    url = f"s3://{bucket}/app/db?endpoint={host}&region=us-east-1"
    proc = subprocess.run(
        [str(LITESTREAM), "restore", "-o", str(by_url), url],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    go_restore(go_litestream, go_env, bucket, moto.endpoint, gos)
    assert rows(ours) == rows(by_url) == rows(gos) == rows(db)


def test_outage_mid_replication_resumes_without_gap(moto, go_litestream, go_env, tmp_path):
    bucket = moto.make_bucket()
    proxy = TCPProxy(moto.port)
    proxy.start()
    db = tmp_path / "app.db"
    app = App(db)
    cfg = write_config(tmp_path, db, bucket, proxy.endpoint)
    log = tmp_path / "replicate.log"
    proc = start_replicate(None, cfg, log)
    try:
        wait_for_objects(moto, bucket, 1)
        app.write(10)
        wait_for_objects(moto, bucket, 2)
        proxy.stop()  # the server is gone while the application keeps writing
        time.sleep(0.5)  # let an upload already handed to moto land
        before = object_keys(moto, bucket)
        app.write(30, pause=0.05)
        assert object_keys(moto, bucket) == before  # nothing got through: a real outage
        assert proc.poll() is None, f"replicate died during the outage:\n{log.read_text()}"
        proxy.start()
        app.write(10, pause=0.02)
    finally:
        stop_replicate(proc, log)
        proxy.stop()
    app.close()

    ours, gos = tmp_path / "ours.db", tmp_path / "go.db"
    direct = write_config(tmp_path, db, bucket, moto.endpoint, "direct.yml")
    restore(LITESTREAM, direct, db, ours)
    # Go refuses a replica whose TXIDs do not join up ("non-contiguous ltx files").
    go_restore(go_litestream, go_env, bucket, moto.endpoint, gos)
    assert rows(ours) == rows(db) == rows(gos)
    assert len(rows(db)) == 50


def test_core_and_s3_wheels_alone_replicate_to_s3(moto, tmp_path):
    """`pip install litestream-core litestream-s3` and nothing else is enough."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (scripts/setup installs it)")
    root = Path(__file__).resolve().parents[3]
    wheels = tmp_path / "wheels"
    for package in ("litestream-core", "litestream-s3"):
        subprocess.run(
            [uv, "build", "--package", package, "--wheel", "--out-dir", str(wheels)],
            cwd=root,
            check=True,
            capture_output=True,
            timeout=300,
        )
    venv = tmp_path / "venv"
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--python", str(python), *map(str, wheels.glob("*.whl"))],
        check=True,
        capture_output=True,
        timeout=300,
    )
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
    log = tmp_path / "replicate.log"
    litestream = venv / "bin" / "litestream"
    proc = start_replicate(litestream, cfg, log)
    try:
        wait_for_objects(moto, bucket, 1)
        app.write(10)
    finally:
        stop_replicate(proc, log)
    app.close()
    out = tmp_path / "restored.db"
    restore(litestream, cfg, db, out)
    assert rows(out) == rows(db)
