"""The VFS and follow mode over OSS (its S3-compatible API, on moto)."""

from __future__ import annotations

from litestream_core.testing.read_checks import check_follow, check_vfs, make_history

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def test_vfs_reads_an_oss_replica(oss, bucket, tmp_path, replica_prefix):
    url = f"oss://{bucket}/{replica_prefix}"
    lines = [
        f"url: {url}",
        f"endpoint: {oss.endpoint}",
        f"access-key-id: {ACCESS_KEY_ID}",
        f"secret-access-key: {SECRET_ACCESS_KEY}",
    ]
    history = make_history(tmp_path, lines, env=None)
    check_vfs(url, oss.options(), history)
    check_follow(history, tmp_path)
