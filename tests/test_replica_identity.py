"""A replica belongs to one database: a second database is refused, its own are not.

Every run is the real command (``replicate -once``, ``restore``, ``reset``) on a file
replica; the Go binary checks that the identity object leaves the replica usable by Go.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from litestream_core.engine.identity import IDENTITY_LEVEL
from litestream_core.testing.e2e import insert_rows, rows

OURS = Path(sys.executable).with_name("litestream")


def run(
    *args: str | Path, tool: Path = OURS, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool), *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )


def replicate_once(db: Path, replica: Path, tool: Path = OURS) -> subprocess.CompletedProcess[str]:
    return run("replicate", "-once", db, f"file://{replica}", tool=tool)


def ltx_names(replica: Path) -> list[str]:
    return sorted(str(p.relative_to(replica)) for p in replica.rglob("*.ltx"))


def identity_file(replica: Path) -> Path:
    return replica / "ltx" / str(IDENTITY_LEVEL) / f"{1:016x}-{1:016x}.ltx"


@pytest.fixture
def first(tmp_path: Path) -> tuple[Path, Path]:
    """Database a, replicated twice to a fresh replica."""
    db, replica = tmp_path / "a.db", tmp_path / "replica"
    insert_rows(db, range(10), wal=True)
    assert replicate_once(db, replica).returncode == 0
    insert_rows(db, range(10, 20), wal=True)
    assert replicate_once(db, replica).returncode == 0
    assert identity_file(replica).exists()
    return db, replica


def test_second_database_is_refused_and_told_why(first, tmp_path):
    a, replica = first
    b = tmp_path / "b.db"
    insert_rows(b, range(100, 105), wal=True)
    before = {n: (replica / n).read_bytes() for n in ltx_names(replica)}
    result = replicate_once(b, replica)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("Error: ") and "Traceback" not in line
    assert str(a) in line and str(b) in line
    assert "new replica path" in line and "reset -takeover" in line
    assert {n: (replica / n).read_bytes() for n in ltx_names(replica)} == before
    out = tmp_path / "out.db"
    assert run("restore", "-o", out, f"file://{replica}").returncode == 0
    assert rows(out) == rows(a)


def test_same_database_restarted_or_its_meta_directory_lost(first, tmp_path):
    a, replica = first
    insert_rows(a, range(20, 25), wal=True)
    assert replicate_once(a, replica).returncode == 0
    shutil.rmtree(tmp_path / ".a.db-litestream")  # same path, same host: still a
    insert_rows(a, range(25, 30), wal=True)
    assert replicate_once(a, replica).returncode == 0, replicate_once(a, replica).stderr
    out = tmp_path / "out.db"
    assert run("restore", "-o", out, f"file://{replica}").returncode == 0
    assert rows(out) == rows(a)


def test_restored_then_replicated_elsewhere_is_the_same_database(first, tmp_path):
    """Go's #781 path: restore (here to another directory, as on a new machine), write,
    replicate to the same replica; the restore recorded which database it is."""
    a, replica = first
    moved = tmp_path / "new-host"
    moved.mkdir()
    c = moved / "c.db"
    assert run("restore", "-o", c, f"file://{replica}").returncode == 0
    insert_rows(c, range(50, 60), wal=True)
    result = replicate_once(c, replica)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out.db"
    assert run("restore", "-o", out, f"file://{replica}").returncode == 0
    assert rows(out) == rows(c) != rows(a)


def test_takeover_hands_the_replica_to_another_database(first, tmp_path):
    a, replica = first
    b = tmp_path / "b.db"
    insert_rows(b, range(100, 105), wal=True)
    assert replicate_once(b, replica).returncode == 1
    result = run("reset", "-takeover", "-replica", f"file://{replica}", b)
    assert result.returncode == 0, result.stderr
    assert str(a) in result.stdout  # says whose replica it was
    assert replicate_once(b, replica).returncode == 0
    out = tmp_path / "out.db"
    assert run("restore", "-o", out, f"file://{replica}").returncode == 0
    assert rows(out) == rows(b)
    refused = replicate_once(a, replica)  # a no longer owns it
    assert refused.returncode == 1 and str(b) in refused.stderr


def test_takeover_needs_to_know_the_replica(first, tmp_path):
    a, _ = first
    result = run("reset", "-takeover", a)
    assert result.returncode != 0 and "-replica URL or -config PATH" in result.stderr


def test_go_replica_is_adopted_and_go_still_uses_it(go_litestream, go_env, tmp_path):
    """Go writes no identity: our replicator adopts the replica by writing one; Go then
    restores from it and replicates to it as before (it never lists our level)."""
    db, replica = tmp_path / "g.db", tmp_path / "replica"
    insert_rows(db, range(10), wal=True)
    assert replicate_once(db, replica, tool=go_litestream).returncode == 0
    assert not identity_file(replica).exists()
    insert_rows(db, range(10, 20), wal=True)
    assert replicate_once(db, replica).returncode == 0
    assert identity_file(replica).exists()
    insert_rows(db, range(20, 30), wal=True)
    go = run("replicate", "-once", db, f"file://{replica}", tool=go_litestream, env=go_env)
    assert go.returncode == 0, go.stderr
    for name, tool in (("go", go_litestream), ("ours", OURS)):
        out = tmp_path / f"out-{name}.db"
        result = run("restore", "-o", out, f"file://{replica}", tool=tool, env=go_env)
        assert result.returncode == 0, result.stderr
        assert rows(out) == rows(db)
        conn = sqlite3.connect(out)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
    assert run("verify", f"file://{replica}").returncode == 0


def two_replica_config(tmp_path: Path, db: Path, one: Path, two: Path) -> Path:
    cfg = tmp_path / f"{db.stem}.yml"
    cfg.write_text(
        f"dbs:\n  - path: {db}\n    replicas:\n"
        f"      - name: one\n        url: file://{one}\n"
        f"      - name: two\n        url: file://{two}\n"
    )
    return cfg


def identity_ids(*replicas: Path) -> list[str]:
    import asyncio

    from litestream_file.client import FileReplicaClient

    from litestream_core.engine.identity import read_identity

    async def ids() -> list[str]:
        found = [await read_identity(FileReplicaClient(r)) for r in replicas]
        return [i.database_id if i else "" for i in found]

    return asyncio.run(ids())


def test_replicas_of_one_database_name_one_id_and_are_taken_over_by_name(tmp_path):
    """A database's replicas claimed at once name the same database ID; `-takeover`
    with a config takes over the replica named, or every one."""
    one, two = tmp_path / "one", tmp_path / "two"
    a = tmp_path / "a.db"
    insert_rows(a, range(10), wal=True)
    config_a = two_replica_config(tmp_path, a, one, two)
    assert run("replicate", "-once", "-config", config_a).returncode == 0
    first = identity_ids(one, two)
    assert first[0] and first[0] == first[1]

    b = tmp_path / "b.db"
    insert_rows(b, range(100, 105), wal=True)
    config_b = two_replica_config(tmp_path, b, one, two)
    assert run("replicate", "-once", "-config", config_b).returncode == 1
    taken = run("reset", "-takeover", "-config", config_b, "-replica", "one", b)
    assert taken.returncode == 0, taken.stderr
    after_one = identity_ids(one, two)
    assert after_one[0] != first[0] and after_one[1] == first[0]
    taken = run("reset", "-takeover", "-config", config_b, b)
    assert taken.returncode == 0, taken.stderr
    assert "Replica one taken over" in taken.stdout and "Replica two taken over" in taken.stdout
    after_both = identity_ids(one, two)
    assert after_both[0] == after_both[1] == after_one[0]
    result = run("replicate", "-once", "-config", config_b)
    assert result.returncode == 0, result.stderr
    for replica in (one, two):
        out = tmp_path / f"out-{replica.name}.db"
        assert run("restore", "-o", out, f"file://{replica}").returncode == 0
        assert rows(out) == rows(b)
