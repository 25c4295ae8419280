"""The VFS and follow mode over WebDAV (WsgiDAV)."""

from __future__ import annotations

from litestream_core.testing.read_checks import check_follow, check_vfs, make_history


def test_vfs_reads_a_webdav_replica(dav, tmp_path, replica_prefix):
    url = dav.url(replica_prefix)
    history = make_history(tmp_path, [f"url: {url}"], env=None)
    check_vfs(url, {}, history)
    check_follow(history, tmp_path)
