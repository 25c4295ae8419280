"""The VFS and follow mode over S3 (moto): range reads, time travel, pinned snapshots."""

from __future__ import annotations

from litestream_core.testing.read_checks import check_follow, check_vfs, make_history

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def test_vfs_reads_an_s3_replica(moto, tmp_path, replica_prefix):
    bucket = moto.make_bucket()
    lines = [
        f"url: s3://{bucket}/{replica_prefix}",
        f"endpoint: {moto.endpoint}",
        f"access-key-id: {ACCESS_KEY_ID}",
        f"secret-access-key: {SECRET_ACCESS_KEY}",
    ]
    history = make_history(tmp_path, lines, env=None)
    check_vfs(f"s3://{bucket}/{replica_prefix}", moto.options(), history)
    check_follow(history, tmp_path)
