"""The VFS over S3 (moto): pages by range reads, time travel, pinned snapshots."""

from __future__ import annotations

from litestream_core.testing.vfs_checks import check_vfs, make_history

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
