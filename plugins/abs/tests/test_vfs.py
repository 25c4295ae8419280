"""The VFS and follow mode over Azure Blob Storage (Azurite)."""

from __future__ import annotations

from litestream_core.testing.read_checks import check_follow, check_vfs, make_history

from .conftest import ACCOUNT, ACCOUNT_KEY


def test_vfs_reads_an_abs_replica(azurite, container, tmp_path, replica_prefix):
    url = f"abs://{ACCOUNT}@{container}/{replica_prefix}"
    lines = [f"url: {url}", f"endpoint: {azurite.endpoint}", f"account-key: {ACCOUNT_KEY}"]
    history = make_history(tmp_path, lines, env=None)
    check_vfs(url, azurite.options(), history)
    check_follow(history, tmp_path)
