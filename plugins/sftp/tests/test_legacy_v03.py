"""A replica Go Litestream 0.3.13 wrote over SFTP (a real sshd) restores with ours."""

from __future__ import annotations

from litestream_core.testing.e2e import restore
from litestream_core.testing.legacy import rows, write_v03_history


def test_go_03_sftp_replica_restores(sshd, tmp_path, go_litestream_03):
    path = sshd.root / "legacy"
    replica = ["type: sftp", f"host: 127.0.0.1:{sshd.port}", f"user: {sshd.user}",
               f"key-path: {sshd.client_key}", f"path: {path}"]  # fmt: skip
    history = write_v03_history(go_litestream_03, tmp_path, replica)
    assert list(path.glob("generations/*/wal/*.wal.lz4")), "Go 0.3 wrote WAL segments"
    config = tmp_path / "ours.yml"
    config.write_text(
        f"dbs:\n  - path: {tmp_path / 'unused.db'}\n    replica:\n      url: {sshd.url(path)}\n"
        f"      key-path: {sshd.client_key}\n      host-key: {sshd.host_key}\n"
    )
    out = tmp_path / "latest.db"
    restore(out, "-config", config, tmp_path / "unused.db")
    assert rows(out) == rows(history.db)
    for i, (when, expected) in enumerate(history.marks):
        out = tmp_path / f"at-{i}.db"
        restore(out, "-timestamp", when.isoformat(), "-config", config, tmp_path / "unused.db")
        assert rows(out) == expected
