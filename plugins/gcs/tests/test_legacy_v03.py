"""A replica Go Litestream 0.3.13 wrote to GCS (fake-gcs-server) restores with ours."""

from __future__ import annotations

import os

from litestream_core.testing.e2e import restore
from litestream_core.testing.legacy import rows, write_v03_history


def test_go_03_gcs_replica_restores(gcs, tmp_path, go_litestream_03, replica_prefix):
    bucket = gcs.make_bucket()
    replica = ["type: gcs", f"bucket: {bucket}", f"path: {replica_prefix}"]
    history = write_v03_history(go_litestream_03, tmp_path, replica, env=os.environ)
    names = [b.name for b in gcs.sdk_client().list_blobs(bucket)]
    assert any(n.endswith(".wal.lz4") for n in names), names
    url = f"gs://{bucket}/{replica_prefix}"
    out = tmp_path / "latest.db"
    restore(out, url)
    assert rows(out) == rows(history.db)
    for i, (when, expected) in enumerate(history.marks):
        out = tmp_path / f"at-{i}.db"
        restore(out, "-timestamp", when.isoformat(), url)
        assert rows(out) == expected
