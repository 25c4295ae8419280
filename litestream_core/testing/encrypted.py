"""One end-to-end check of an encrypted replica, for any backend.

Our ``litestream replicate`` and ``restore`` with a YAML config whose replica has an
``age:`` block, against the backend's real server: nothing of the database is readable
in any stored object, the ``age`` tool opens a stored file by hand, restore with the
identity equals the source and fails clearly without it, and a key rotation keeps the
old files restorable. A backend test supplies its replica's config lines and a way to
read every stored object (with its own SDK, not through our client).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from litestream_core.encryption.layout import INTRO
from litestream_core.ltx import decode_file
from litestream_core.testing.e2e import OUR_LITESTREAM, Replicate, restore, rows, wait_for
from litestream_core.testing.ltxgen import database_pages, make_ltx_bytes

StoredObjects = Callable[[], Mapping[str, bytes]]
"""Every object the replica holds (name to bytes), read with the backend's own SDK."""


@dataclass(frozen=True)
class AgeKey:
    """An ``age-keygen`` key file and its public key."""

    path: Path
    public: str

    @classmethod
    def make(cls, path: Path) -> AgeKey:
        keygen = shutil.which("age-keygen")
        if keygen is None:
            pytest.fail("age-keygen not found: run `bash .ci/deps/age.sh`")
        made = subprocess.run([keygen, "-o", str(path)], capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        return cls(path, made.stderr.split("Public key: ")[1].strip())


def age_block(recipients: Sequence[AgeKey], identities: Sequence[AgeKey]) -> list[str]:
    """A replica's ``age:`` lines: public keys inline, identities as key-file paths."""
    lines = ["age:"]
    if recipients:
        lines += ["  recipients:", *(f"    - {k.public}" for k in recipients)]
    if identities:
        lines += ["  identities:", *(f"    - {k.path}" for k in identities)]
    return lines


def write_config(path: Path, db: Path, replica: Sequence[str], age: Sequence[str]) -> Path:
    """Short sync, and L1 compaction every second, so compaction runs through the
    encryption layer too (it reads L0 files back and writes sealed L1 files)."""
    lines = ["levels:", "  - interval: 1s", "dbs:", f"  - path: {db}",
             "    monitor-interval: 50ms", "    replica:",
             *(f"      {line}" for line in [*replica, "sync-interval: 100ms", *age])]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def failed_restore(
    out: Path, config: Path, db: Path, env: Mapping[str, str] | None, *, command: str = "restore"
) -> str:
    """Our ``restore`` (or ``verify``) that must fail with one clean line; its stderr."""
    argv = [str(OUR_LITESTREAM), command, "-config", str(config)]
    argv += ["-o", str(out), str(db)] if command == "restore" else [str(db)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (
        proc.stderr
    )
    assert not out.exists()
    return proc.stderr


class _Writer:
    """The application: rows whose text is a marker nobody may find on the replica."""

    def __init__(self, path: Path, marker: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
        self.marker = marker

    def write(self, n: int) -> None:
        for i in range(n):
            self.conn.execute("INSERT INTO t (body) VALUES (?)", (f"{self.marker} {i} " * 40,))

    def close(self) -> None:
        self.conn.close()


def check_encrypted_replica(
    tmp_path: Path,
    replica: Sequence[str],
    stored: StoredObjects,
    *,
    env: Mapping[str, str] | None = None,
) -> None:
    """The whole check; ``replica`` holds the replica's own config lines (url, ...)."""
    db = tmp_path / "app.db"
    old, new, spare, stranger = (
        AgeKey.make(tmp_path / f"{n}.key") for n in ("old", "new", "spare", "stranger")
    )
    marker = "PLAINTEXT-MARKER-5a1c"
    app = _Writer(db, marker)
    app.write(50)

    first = write_config(tmp_path / "old.yml", db, replica, age_block([old], [old]))
    _replicate(first, tmp_path / "first.log", app, stored, env)
    objects = stored()
    assert objects, "nothing was replicated"
    _assert_sealed(objects, marker.encode(), db)
    name, data = sorted(objects.items())[0]
    plain = _age_decrypt(tmp_path, data, old)
    decode_file(plain)  # a whole, valid LTX file
    assert plain.startswith(b"LTX1"), name

    out = tmp_path / "restored.db"
    done = subprocess.run(
        [str(OUR_LITESTREAM), "restore", "-config", str(first), "-o", str(out), str(db)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr  # logs go to stdout unless logging.stderr, as Go's
    old_rows, old_txid = rows(db), int(said.split(" txid=")[1].split()[0], 16)
    assert rows(out) == old_rows
    reader = write_config(tmp_path / "reader.yml", db, replica, age_block([], [old]))
    restore(tmp_path / "reader.db", "-config", reader, db, env=env)
    assert rows(tmp_path / "reader.db") == rows(db)

    plain_config = write_config(tmp_path / "plain.yml", db, replica, [])
    message = failed_restore(tmp_path / "plain.db", plain_config, db, env)
    assert "encrypted with age" in message, message
    wrong = write_config(tmp_path / "wrong.yml", db, replica, age_block([], [stranger]))
    message = failed_restore(tmp_path / "wrong.db", wrong, db, env)
    assert "no configured age identity opens replica file" in message, message
    for key in (old, new, spare, stranger):
        assert key.path.read_text().split("AGE-SECRET-KEY-")[1][:20] not in message

    # Rotation to two recipients: new files open with either new key, not the old one;
    # the old files still restore with the old identity.
    rotated = write_config(tmp_path / "new.yml", db, replica, age_block([new, spare], [new, old]))
    before = set(objects)
    _replicate(rotated, tmp_path / "second.log", app, stored, env)
    objects = stored()
    _assert_sealed(objects, marker.encode(), db)
    added = sorted(set(objects) - before)
    assert added, "the rotated replicator wrote nothing"
    assert _age_decrypt(tmp_path, objects[added[-1]], new).startswith(b"LTX1")
    assert _age_decrypt(tmp_path, objects[added[-1]], spare).startswith(b"LTX1")
    assert _age_decrypt(tmp_path, objects[added[-1]], old, ok=False) == b""
    restore(tmp_path / "rotated.db", "-config", rotated, db, env=env)
    assert rows(tmp_path / "rotated.db") == rows(db)
    then = tmp_path / "then.db"
    restore(then, "-txid", f"{old_txid:016x}", "-config", rotated, db, env=env)
    assert rows(then) == old_rows
    verify = subprocess.run(
        [str(OUR_LITESTREAM), "verify", "-config", str(rotated), str(db)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # Without the old identity the old files are unreadable (verify reads every file;
    # whether a restore still needs one depends on what compaction rewrote since).
    only_new = write_config(tmp_path / "only-new.yml", db, replica, age_block([], [new]))
    message = failed_restore(tmp_path / "only-new.db", only_new, db, env, command="verify")
    assert "no configured age identity opens replica file" in message, message
    app.close()


def _replicate(
    config: Path,
    log: Path,
    app: _Writer,
    stored: StoredObjects,
    env: Mapping[str, str] | None,
) -> None:
    """Replicate while the app writes, through at least one compaction; then stop."""
    replicate = Replicate(config, log, env=env)
    try:
        before = set(stored())
        app.write(30)
        wait_for(lambda: len(set(stored()) - before) >= 2, "no files replicated in 30 s")
        app.write(30)
        wait_for(
            lambda: any("/1/" in n or "/0001/" in n for n in set(stored()) - before),
            f"no L1 compaction in 30 s:\n{replicate.output()}",
        )
    finally:
        replicate.stop()
    assert "AGE-SECRET-KEY" not in replicate.output().upper()


def _assert_sealed(objects: Mapping[str, bytes], marker: bytes, db: Path) -> None:
    # The search works: the same database as a plain LTX snapshot shows the marker.
    page_size, pages = database_pages(_checkpointed_copy(db))
    assert marker in make_ltx_bytes(1, 1, page_size=page_size, pages=pages)
    for name, data in objects.items():
        assert data.startswith(INTRO), f"{name} is not an age file"
        assert marker not in data, f"{name} holds plaintext"


def _checkpointed_copy(db: Path) -> Path:
    copy = db.with_name("snapshot-copy.db")
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return copy


def _age_decrypt(tmp_path: Path, data: bytes, key: AgeKey, *, ok: bool = True) -> bytes:
    """The ``age`` tool's decryption of one stored object with one key file."""
    age = shutil.which("age")
    if age is None:
        pytest.fail("age not found: run `bash .ci/deps/age.sh`")
    proc = subprocess.run([age, "-d", "-i", str(key.path)], input=data, capture_output=True)
    assert (proc.returncode == 0) == ok, proc.stderr
    return proc.stdout
