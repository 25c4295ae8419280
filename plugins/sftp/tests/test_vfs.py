"""The VFS and follow mode over SFTP (a real sshd): range reads, time travel, pinned snapshots."""

from __future__ import annotations

from litestream_core.testing.read_checks import check_follow, check_vfs, make_history


def test_vfs_reads_an_sftp_replica(sshd, tmp_path):
    path = sshd.root / "vfs"
    lines = [f"url: {sshd.url(path)}", f"key-path: {sshd.client_key}",
             f"host-key: {sshd.host_key}"]  # fmt: skip
    history = make_history(tmp_path, lines, env=None)
    check_vfs(sshd.url(path), sshd.options(), history)
    check_follow(history, tmp_path)
