"""The VFS over SFTP (a real sshd): pages by range reads, time travel, pinned snapshots."""

from __future__ import annotations

from litestream_core.testing.vfs_checks import check_vfs, make_history


def test_vfs_reads_an_sftp_replica(sshd, tmp_path):
    path = sshd.root / "vfs"
    lines = [f"url: {sshd.url(path)}", f"key-path: {sshd.client_key}",
             f"host-key: {sshd.host_key}"]  # fmt: skip
    history = make_history(tmp_path, lines, env=None)
    check_vfs(sshd.url(path), sshd.options(), history)
