"""The VFS over Azure Blob Storage (Azurite): pages by range reads, time travel, snapshots."""

from __future__ import annotations

from litestream_core.testing.vfs_checks import check_vfs, make_history

from .conftest import ACCOUNT, ACCOUNT_KEY


def test_vfs_reads_an_abs_replica(azurite, container, tmp_path, replica_prefix):
    url = f"abs://{ACCOUNT}@{container}/{replica_prefix}"
    lines = [f"url: {url}", f"endpoint: {azurite.endpoint}", f"account-key: {ACCOUNT_KEY}"]
    history = make_history(tmp_path, lines, env=None)
    check_vfs(url, azurite.options(), history)
