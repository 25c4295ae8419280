"""One writer per replica path on S3 (moto's server): conditional writes hold the lease."""

from __future__ import annotations

import os
from pathlib import Path

from litestream_core.testing.lease_e2e import two_databases_one_replica

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def test_second_database_waits_then_takes_the_replica_over(moto, tmp_path: Path):
    bucket = moto.make_bucket()
    env = {**os.environ, "LITESTREAM_ACCESS_KEY_ID": ACCESS_KEY_ID,
           "LITESTREAM_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}  # fmt: skip
    url = f"s3://{bucket}/app?endpoint={moto.endpoint}&region=us-east-1&force-path-style=true"
    two_databases_one_replica(tmp_path, [f"url: {url}"], [url], env=env)
