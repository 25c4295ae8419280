"""Encrypted replicas end to end on the file backend, and what Go Litestream makes of one.

The same check runs on moto S3 in plugins/s3/tests/test_encryption.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from litestream_core.testing.e2e import OUR_LITESTREAM, App
from litestream_core.testing.encrypted import (
    AgeKey,
    age_block,
    check_encrypted_replica,
    write_config,
)


def file_objects(root: Path):
    def read() -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*.ltx"))
            if not p.name.startswith(".")
        }

    return read


def test_encrypted_file_replica(tmp_path):
    replica = tmp_path / "replica"
    check_encrypted_replica(tmp_path, [f"url: file://{replica}"], file_objects(replica))


def test_go_litestream_refuses_an_encrypted_replica_clearly(tmp_path, go_litestream):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    key = AgeKey.make(tmp_path / "k.key")
    app = App(db)
    app.write(5)
    app.close()
    age = age_block([key], [key])
    config = write_config(tmp_path / "c.yml", db, [f"url: file://{replica}"], age)
    once = subprocess.run(
        [str(OUR_LITESTREAM), "replicate", "-once", "-config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    out = tmp_path / "go.db"
    proc = subprocess.run(
        [str(go_litestream), "restore", "-o", str(out), f"file://{replica}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0 and not out.exists()
    # Go 0.5.17 decodes the first file's header and stops: one line, no panic.
    assert proc.stderr.strip() == (
        "Error: decode database: decode header: decode header for input 0: "
        "unmarshal header: invalid LTX file"
    ), proc.stderr


def test_embedding_api_takes_age_in_options(tmp_path):
    from litestream_core import api
    from litestream_core.encryption.keys import Identity
    from litestream_core.errors import ConfigError
    from litestream_core.testing.e2e import rows

    key = Identity.generate()
    age = {"recipients": [str(key.recipient)], "identities": [key.secret_text()]}
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    app = App(db)
    app.write(3)
    with api.replicate_in_background(db, f"file://{replica}", options={"age": age}) as r:
        app.write(3)
        r.wait_for_sync(timeout=30)
    app.close()
    stored = [p.read_bytes() for p in replica.rglob("*.ltx")]
    assert stored and all(data.startswith(b"age-encryption.org/v1\n") for data in stored)
    out = tmp_path / "out.db"
    api.restore_sync(f"file://{replica}", out, options={"age": {"identities": age["identities"]}})
    assert rows(out) == rows(db)
    with pytest.raises(ConfigError, match=r"options\.age\.identities\[0\] is not an age"):
        api.restore_sync(
            f"file://{replica}",
            tmp_path / "x.db",
            options={"age": {"identities": ["AGE-SECRET-KEY-1XYZ"]}},
        )


def test_plain_and_encrypted_files_are_never_mixed_on_one_replica(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    key = AgeKey.make(tmp_path / "k.key")
    app = App(db)
    app.write(3)
    plain = write_config(tmp_path / "plain.yml", db, [f"url: file://{replica}"], [])
    sealed = write_config(
        tmp_path / "age.yml", db, [f"url: file://{replica}"], age_block([key], [key])
    )
    once = [str(OUR_LITESTREAM), "replicate", "-once", "-config"]
    assert subprocess.run([*once, str(plain)], capture_output=True, timeout=120).returncode == 0
    before = {p: p.read_bytes() for p in replica.rglob("*.ltx")}
    app.write(3)
    app.close()
    proc = subprocess.run([*once, str(sealed)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "is not encrypted, but this replica is configured with age keys" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert {p: p.read_bytes() for p in replica.rglob("*.ltx")} == before

    # The other way round: a config that lost its age: block must not add plain files.
    sealed_replica = tmp_path / "sealed"
    lines = [f"url: file://{sealed_replica}"]
    sealed = write_config(tmp_path / "age2.yml", db, lines, age_block([key], [key]))
    plain = write_config(tmp_path / "plain2.yml", db, lines, [])
    assert subprocess.run([*once, str(sealed)], capture_output=True, timeout=120).returncode == 0
    before = {p: p.read_bytes() for p in sealed_replica.rglob("*.ltx")}
    app = App(db)
    app.write(2)
    app.close()
    proc = subprocess.run([*once, str(plain)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: not an LTX file: it is encrypted with age (the replica is encrypted: give "
        "it `age: {identities: [...]}` in the config to read it)"
    )
    assert {p: p.read_bytes() for p in sealed_replica.rglob("*.ltx")} == before
