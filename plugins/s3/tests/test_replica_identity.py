"""On S3 too, a replica belongs to one database: a second one is refused and told why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from litestream_core.testing.e2e import insert_rows, rows

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

OURS = Path(sys.executable).with_name("litestream")


def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return base | {
        "LITESTREAM_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "LITESTREAM_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }


def run(tool: Path, *args: str | Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool), *map(str, args)], capture_output=True, text=True, timeout=120, env=environ
    )


def test_second_database_on_one_s3_path_is_refused(moto, go_litestream, go_env, tmp_path):
    bucket = moto.make_bucket()
    url = f"s3://{bucket}/app/db?endpoint={moto.endpoint}&region=us-east-1"
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    insert_rows(a, range(10), wal=True)
    insert_rows(b, range(100, 110), wal=True)
    first = run(OURS, "replicate", "-once", a, url, environ=env())
    assert first.returncode == 0, first.stderr
    keys = {o["Key"] for o in moto.boto3_client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"app/db/000a/{1:016x}-{1:016x}.ltx" in keys  # the identity, beside 0000/

    second = run(OURS, "replicate", "-once", b, url, environ=env())
    assert second.returncode == 1
    line = second.stderr.strip()
    assert "\n" not in line and line.startswith("Error: ") and "Traceback" not in line
    assert str(a) in line and str(b) in line and "reset -takeover" in line
    after = {o["Key"] for o in moto.boto3_client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert after == keys

    # Both tools restore database a; Go does not see the identity object.
    ours, gos = tmp_path / "ours.db", tmp_path / "go.db"
    assert run(OURS, "restore", "-o", ours, url, environ=env()).returncode == 0
    go_url = f"s3://{bucket}/app/db?endpoint={moto.endpoint.removeprefix('http://')}"
    go = run(go_litestream, "restore", "-o", gos, go_url, environ=go_env)
    assert go.returncode == 0, go.stderr
    assert rows(ours) == rows(gos) == rows(a)
