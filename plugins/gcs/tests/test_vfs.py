"""The VFS over GCS (fake-gcs-server): pages by range reads, time travel, snapshots."""

from __future__ import annotations

from litestream_core.testing.vfs_checks import check_vfs, make_history


def test_vfs_reads_a_gcs_replica(gcs, bucket, tmp_path, replica_prefix):
    url = f"gs://{bucket}/{replica_prefix}"
    history = make_history(tmp_path, [f"url: {url}"], env=None)  # the emulator is in os.environ
    check_vfs(url, {}, history)
