"""The read paths over an encrypted replica: the VFS (range reads through the sealed
layout), ``query`` and ``restore -f``, given an identity; a clear error without one.

The same VFS and follow checks run on moto S3 in plugins/s3/tests/test_encryption.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from litestream_core.errors import LTXFormatError
from litestream_core.testing.e2e import OUR_LITESTREAM
from litestream_core.testing.encrypted import AgeKey, age_block
from litestream_core.testing.read_checks import (
    QUERIES,
    check_follow,
    check_vfs,
    make_history,
)


def test_vfs_and_follow_mode_read_an_encrypted_replica(tmp_path):
    key = AgeKey.make(tmp_path / "k.key")
    url = f"file://{tmp_path / 'replica'}"
    history = make_history(tmp_path, [f"url: {url}", *age_block([key], [key])], env=None)
    stored = list((tmp_path / "replica").rglob("*.ltx"))
    assert stored and all(p.read_bytes().startswith(b"age-encryption.org/v1\n") for p in stored)
    check_vfs(url, {"age": {"identities": [str(key.path)]}}, history)
    check_follow(history, tmp_path)


def test_query_takes_the_identity_from_the_config(tmp_path):
    key, stranger = AgeKey.make(tmp_path / "k.key"), AgeKey.make(tmp_path / "s.key")
    url = f"file://{tmp_path / 'replica'}"
    history = make_history(tmp_path, [f"url: {url}", *age_block([key], [key])], None, 2)
    db, config = history.db, history.config

    def query(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OUR_LITESTREAM), "query", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    done = query("-json", "-config", str(config), str(db), QUERIES[0])
    assert done.returncode == 0, done.stderr
    count, total, top = history.marks[-1][1][0][0]
    assert json.loads(done.stdout) == [{"count(*)": count, "sum(length(v))": total, "max(id)": top}]

    # Without an identity (a bare URL), or with one that opens nothing: one line each.
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(
        config.read_text()
        .replace(str(key.path), str(stranger.path))
        .replace(key.public, stranger.public)
    )
    for args, message in (
        ((url,), "not an LTX file: it is encrypted with age (the replica is encrypted: give "
                 "it `age: {identities: [...]}` in the config to read it)"),
        (("-config", str(wrong), str(db)), "no configured age identity opens replica file"),
    ):  # fmt: skip
        failed = query(*args, "SELECT count(*) FROM t")
        assert failed.returncode == 1, failed.stdout
        assert failed.stderr.startswith("Error: ") and message in failed.stderr, failed.stderr
        assert len(failed.stderr.splitlines()) == 1
        assert "AGE-SECRET-KEY" not in failed.stderr.upper()


def test_vfs_without_an_identity_says_the_replica_is_encrypted(tmp_path):
    from litestream_core.vfs import open_replica

    key = AgeKey.make(tmp_path / "k.key")
    url = f"file://{tmp_path / 'replica'}"
    make_history(tmp_path, [f"url: {url}", *age_block([key], [key])], None, 1)
    with pytest.raises(LTXFormatError, match="it is encrypted with age"):
        open_replica(url).close()


def test_one_database_with_a_plain_and_an_encrypted_replica(tmp_path):
    """Each replica of a database keeps its own keys: only the one with ``age:`` is
    sealed, and each restores by name, the encrypted one only with its identity."""
    from litestream_core.testing.e2e import App, rows

    key = AgeKey.make(tmp_path / "k.key")
    db, local, offsite = tmp_path / "app.db", tmp_path / "local", tmp_path / "offsite"
    config = tmp_path / "litestream.yml"
    age = "".join(f"        {line}\n" for line in age_block([key], [key]))
    config.write_text(
        f"dbs:\n  - path: {db}\n    replicas:\n      - url: file://{local}\n"
        f"      - name: offsite\n        url: file://{offsite}\n{age}"
    )
    app = App(db)
    app.write(20)
    app.close()
    once = subprocess.run(
        [str(OUR_LITESTREAM), "replicate", "-once", "-config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    sealed = [p.read_bytes()[:22] for p in offsite.rglob("*.ltx")]
    plain = [p.read_bytes()[:4] for p in local.rglob("*.ltx")]
    assert sealed and set(sealed) == {b"age-encryption.org/v1\n"}
    assert plain and set(plain) == {b"LTX1"}
    for name in ("file", "offsite"):
        out = tmp_path / f"{name}.db"
        done = subprocess.run(
            [str(OUR_LITESTREAM), "restore", "-config", str(config), "-replica", name,
             "-o", str(out), str(db)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert rows(out) == rows(db)
    failed = subprocess.run(
        [str(OUR_LITESTREAM), "restore", "-o", str(tmp_path / "bare.db"), f"file://{offsite}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 1 and "it is encrypted with age" in failed.stderr
