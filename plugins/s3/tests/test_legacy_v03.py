"""A replica Go Litestream 0.3.13 wrote to S3 (moto) restores with ours: latest and at
each moment, picked over the LTX layout automatically."""

from __future__ import annotations

import os
import subprocess
import sys

from litestream_core.testing.legacy import rows, write_v03_history

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def test_go_03_s3_replica_restores(moto, tmp_path, go_litestream_03, replica_prefix):
    bucket = moto.make_bucket()
    replica = [
        "type: s3",
        f"bucket: {bucket}",
        f"path: {replica_prefix}",
        f"endpoint: {moto.endpoint}",
        "region: us-east-1",
        "force-path-style: true",
        f"access-key-id: {ACCESS_KEY_ID}",
        f"secret-access-key: {SECRET_ACCESS_KEY}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    history = write_v03_history(go_litestream_03, tmp_path, replica, env=env)
    keys = [o["Key"] for o in moto.boto3_client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any("/generations/" in k and k.endswith(".wal.lz4") for k in keys), keys
    url = f"s3://{bucket}/{replica_prefix}?endpoint={moto.endpoint}"
    ours = os.path.join(os.path.dirname(sys.executable), "litestream")
    ours_env = {
        **env,
        "LITESTREAM_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "LITESTREAM_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
    targets = [(None, rows(history.db))] + [(w.isoformat(), r) for w, r in history.marks]
    for i, (when, expected) in enumerate(targets):
        out = tmp_path / f"restored-{i}.db"
        flags = ["-timestamp", when] if when else []
        proc = subprocess.run(
            [ours, "restore", *flags, "-o", str(out), url],
            capture_output=True,
            text=True,
            env=ours_env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "v0.3 backup" in proc.stderr
        assert rows(out) == expected, f"target {when or 'latest'}"
