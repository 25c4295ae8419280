"""Backups Go Litestream 0.3.13 wrote with ``age:`` (its own keys, the ones this port
takes): ours restores them given the identity, latest and at a moment, and says what is
wrong without it or with the wrong one; Go 0.5.17 cannot read them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from litestream_core.testing.e2e import OUR_LITESTREAM
from litestream_core.testing.encrypted import AgeKey, age_block
from litestream_core.testing.legacy import rows, write_v03_history


def test_go_03_encrypted_backup_restores_with_the_identity(
    tmp_path, go_litestream_03, go_litestream, go_env
):
    key, stranger = AgeKey.make(tmp_path / "k.key"), AgeKey.make(tmp_path / "s.key")
    replica = tmp_path / "replica"
    secret = key.path.read_text().strip().splitlines()[-1]
    # Go 0.3 takes the keys themselves (it parses each entry as key text).
    go_age = ["age:", f"  recipients: [{key.public}]", f"  identities: [{secret}]"]
    history = write_v03_history(go_litestream_03, tmp_path, [f"url: file://{replica}", *go_age],
                                batches=2)  # fmt: skip
    stored = sorted(replica.glob("generations/*/*/*.lz4"))
    assert any("/wal/" in str(p) for p in stored), "Go 0.3 wrote WAL segments"
    assert all(p.read_bytes().startswith(b"age-encryption.org/v1\n") for p in stored)

    def restore(name: str, age: list[str], *args: str) -> subprocess.CompletedProcess[str]:
        config = tmp_path / f"{name}.yml"
        lines = ["dbs:", f"  - path: {history.db}", "    replica:",
                 f"      url: file://{replica}", *(f"      {line}" for line in age)]  # fmt: skip
        config.write_text("\n".join(lines) + "\n")
        argv = [str(OUR_LITESTREAM), "restore", "-config", str(config), *args]
        argv += ["-o", str(tmp_path / f"{name}.db"), str(history.db)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    done = restore("latest", age_block([], [key]))
    assert done.returncode == 0, done.stderr
    assert rows(tmp_path / "latest.db") == rows(history.db)
    when, expected = history.marks[0]
    done = restore("first", age_block([], [key]), "-timestamp", when.isoformat())
    assert done.returncode == 0, done.stderr
    assert rows(tmp_path / "first.db") == expected

    for name, age, message in (
        ("plain", [], "is encrypted with age (give the replica `age: {identities: [...]}`"),
        ("wrong", age_block([], [stranger]), "no configured age identity opens v0.3 file"),
    ):
        failed = restore(name, age)
        assert failed.returncode == 1, failed.stdout
        assert failed.stderr.startswith("Error: ") and message in failed.stderr, failed.stderr
        assert len(failed.stderr.splitlines()) == 1 and secret not in failed.stderr
        assert not Path(tmp_path / f"{name}.db").exists()

    # Go 0.5 reads v0.3 backups but has no age: it fails, and writes nothing.
    out = tmp_path / "go5.db"
    proc = subprocess.run([str(go_litestream), "restore", "-o", str(out), f"file://{replica}"],
                          capture_output=True, text=True, env=go_env, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and not out.exists(), proc.stderr
    assert proc.stderr.strip() == "Error: download snapshot: lz4: bad magic number"
