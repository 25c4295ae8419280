"""One replicator per database: a second one and `reset` are refused while it runs."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import Writer, litestream, run_replicate, stop_process, wait_for

from litestream_core.engine.replication_lock import holder_pid


def test_second_replicator_and_reset_are_refused_while_one_runs(tmp_path: Path) -> None:
    db, meta = tmp_path / "app.db", tmp_path / ".app.db-litestream"
    writer = Writer(db)
    writer.step(3)
    first = run_replicate(str(db), f"file://{tmp_path / 'replica'}")
    try:
        wait_for(lambda: holder_pid(meta) == first.pid)
        second = litestream("replicate", "-once", str(db), f"file://{tmp_path / 'other'}")
        assert second.returncode != 0
        assert second.stderr.strip().splitlines() == [
            f"Error: {db} is already being replicated by another process (pid {first.pid}) "
            "(stop the other replicator first)"
        ]
        reset = litestream("reset", str(db))
        assert reset.returncode != 0
        assert f"being replicated by process {first.pid}" in reset.stderr
        assert list(meta.glob("ltx/0/*.ltx")), "reset must not have removed anything"
        before = db.read_bytes()
        for force in (["-force"], []):
            over = litestream("restore", *force, "-o", str(db), f"file://{tmp_path / 'replica'}")
            assert over.returncode == 1
            assert over.stderr.strip().splitlines() == [
                f"Error: {db} is being replicated by process {first.pid}; "
                "stop replication before restoring over it"
            ]
        assert db.read_bytes() == before
    finally:
        assert stop_process(first) == 0
    assert holder_pid(meta) is None
    assert litestream("reset", str(db)).returncode == 0
    writer.close()


def test_a_killed_replicator_leaves_no_stale_lock(tmp_path: Path) -> None:
    db, meta = tmp_path / "app.db", tmp_path / ".app.db-litestream"
    Writer(db).step(2)
    proc = run_replicate(str(db), f"file://{tmp_path / 'replica'}")
    wait_for(lambda: holder_pid(meta) == proc.pid)
    stop_process(proc, signal.SIGKILL)
    assert holder_pid(meta) is None
    again = litestream("replicate", "-once", str(db), f"file://{tmp_path / 'replica'}")
    assert again.returncode == 0, again.stderr


def test_a_failed_start_leaves_no_meta_directory(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database\n")
    result = litestream("replicate", "-once", str(bogus), f"file://{tmp_path / 'replica'}")
    assert result.returncode != 0
    assert result.stderr.strip() == f"Error: {bogus} is not a SQLite database"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
