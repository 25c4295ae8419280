"""The VFS and follow mode over GCS (fake-gcs-server)."""

from __future__ import annotations

from litestream_core.testing.read_checks import check_follow, check_vfs, make_history


def test_vfs_reads_a_gcs_replica(gcs, bucket, tmp_path, replica_prefix):
    url = f"gs://{bucket}/{replica_prefix}"
    history = make_history(tmp_path, [f"url: {url}"], env=None)  # the emulator is in os.environ
    check_vfs(url, {}, history)
    check_follow(history, tmp_path)
