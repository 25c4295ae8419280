"""``litestream replicate`` as a process: config and short forms, -exec, signals, errors."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import (
    Writer,
    litestream,
    rows_of,
    run_replicate,
    stop_process,
    wait_for,
    write_config,
)


def restore_rows(tmp_path: Path, replica: Path, name: str = "restored.db") -> list[tuple]:
    out = tmp_path / name
    result = litestream("restore", "-o", str(out), "-integrity-check", "full", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    return rows_of(out)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_syncs_pending_changes_then_exits_0(tmp_path, sig):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(5)
    # A long sync interval: only the shutdown sync can have uploaded the last commits.
    cfg = write_config(tmp_path, db, replica).read_text().replace("sync-interval: 50ms",
                                                                  "sync-interval: 1h")  # fmt: skip
    (tmp_path / "litestream.yml").write_text(cfg)
    proc = run_replicate("-config", str(tmp_path / "litestream.yml"))
    wait_for(lambda: (replica / "ltx" / "0").exists(), timeout=30)  # the first sync is immediate
    writer.step(20)
    time.sleep(0.3)  # let the monitor see the WAL (commits after the signal are not promised)
    assert stop_process(proc, sig) == 0, proc.stderr.read().decode()
    assert restore_rows(tmp_path, replica) == writer.rows()
    writer.close()


def test_short_form_and_double_dash(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(10)
    proc = run_replicate(str(db), f"file://{replica}")
    try:
        wait_for(lambda: any((replica / "ltx").glob("[0-9]/*.ltx")), timeout=30)
    finally:
        assert stop_process(proc) == 0
    assert restore_rows(tmp_path, replica) == writer.rows()
    writer.close()


def test_exec_runs_the_app_and_exits_with_its_code(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    Writer(db).close()
    app = (
        f"{sys.executable} -c \"import sqlite3,sys; c=sqlite3.connect('{db}'); "
        "c.execute('INSERT INTO t (v, n) VALUES (x\\'01\\', 42)'); c.commit(); sys.exit(7)\""
    )
    cfg = write_config(tmp_path, db, replica)
    result = litestream("replicate", "--config", str(cfg), "-exec", app, timeout=60)
    assert result.returncode == 7, result.stderr
    assert [r[2] for r in restore_rows(tmp_path, replica)] == [42]


def test_exec_forwards_signals(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    Writer(db).close()
    marker = tmp_path / "got-term"
    app = (
        f'{sys.executable} -c "import signal,sys,time,pathlib; '
        f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path('{marker}').touch(), "
        'sys.exit(3))); time.sleep(60)"'
    )
    proc = run_replicate("-config", str(write_config(tmp_path, db, replica)), "-exec", app)
    # An L0 file, not just ltx/: the replica identity is written before the app starts.
    wait_for(lambda: (replica / "ltx" / "0").exists(), timeout=30)
    time.sleep(0.3)
    assert stop_process(proc, signal.SIGTERM) == 3
    assert marker.exists()


def test_once_syncs_and_exits(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(10)
    result = litestream("replicate", "-once", "-config", str(write_config(tmp_path, db, replica)))
    assert result.returncode == 0, result.stderr
    assert restore_rows(tmp_path, replica) == writer.rows()
    writer.close()


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    db = tmp_path / "app.db"
    Writer(db).close()
    notdb = tmp_path / "notdb"
    notdb.write_bytes(b"this is not a database" * 100)
    (tmp_path / "bad.yml").write_text("dbs: [\n")
    (tmp_path / "typo.yml").write_text(f"dbs:\n  - path: {db}\n    monitor-intervall: 1s\n")
    (tmp_path / "scheme.yml").write_text(
        f"dbs:\n  - path: {db}\n    replica:\n      url: nope://x\n"
    )
    (tmp_path / "notdb.yml").write_text(
        f"dbs:\n  - path: {notdb}\n    replica:\n      path: {tmp_path}/r\n"
    )
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the replica directory should be")
    (tmp_path / "unreachable.yml").write_text(
        f"dbs:\n  - path: {db}\n    replica:\n      path: {blocker}/sub\n"
    )
    return {
        "bad flag": (["-bogus"], "flag provided but not defined: -bogus"),
        "one arg": ([str(db)], "replica URL"),
        "config and url": (["-config", "x.yml", str(db), "file:///tmp/x"], "-config"),
        "missing config": (["-config", str(tmp_path / "missing.yml")], "config file not found"),
        "bad yaml": (["-config", str(tmp_path / "bad.yml")], "invalid YAML"),
        "unknown key": (["-config", str(tmp_path / "typo.yml")], "'monitor-intervall'"),
        "unknown scheme": (["-config", str(tmp_path / "scheme.yml")], "scheme 'nope'"),
        "not a database": (["-config", str(tmp_path / "notdb.yml")], ""),
        "unreachable storage": (["-config", str(tmp_path / "unreachable.yml")], ""),
        "once and exec": (["-once", "-exec", "true", str(db), "file:///tmp/x"], "-once"),
    }


@pytest.mark.parametrize(
    "case",
    ["bad flag", "one arg", "config and url", "missing config", "bad yaml", "unknown key",
     "unknown scheme", "not a database", "unreachable storage", "once and exec"],
)  # fmt: skip
def test_bad_input_is_one_error_line(tmp_path, case):
    args, message = _bad_inputs(tmp_path)[case]
    before = (tmp_path / "app.db").read_bytes()
    notdb_before = (tmp_path / "notdb").read_bytes()
    result = litestream("replicate", *args, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert (tmp_path / "app.db").read_bytes() == before
    assert (tmp_path / "notdb").read_bytes() == notdb_before


def test_many_databases_in_one_process(tmp_path):
    dbs = [tmp_path / f"db{i}.db" for i in range(3)]
    writers = [Writer(db, seed=i) for i, db in enumerate(dbs)]
    body = "dbs:\n" + "".join(
        f"  - path: {db}\n    monitor-interval: 50ms\n"
        f"    replica:\n      path: {tmp_path}/r{i}\n      sync-interval: 50ms\n"
        for i, db in enumerate(dbs)
    )
    (tmp_path / "c.yml").write_text(body)
    proc = run_replicate("-config", str(tmp_path / "c.yml"))
    try:
        wait_for(lambda: all((tmp_path / f"r{i}" / "ltx").exists() for i in range(3)), 30)
        for _ in range(10):
            for w in writers:
                w.step(2)
            time.sleep(0.02)
        time.sleep(0.5)
    finally:
        assert stop_process(proc) == 0
    for i, w in enumerate(writers):
        assert restore_rows(tmp_path, tmp_path / f"r{i}", f"out{i}.db") == w.rows()
        w.close()
    with sqlite3.connect(dbs[0]) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_restore_if_db_not_exists_then_continue_replicating(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(30)
    cfg = write_config(tmp_path, db, replica)
    assert litestream("replicate", "-once", "-config", str(cfg)).returncode == 0
    before = writer.rows()
    writer.close()
    for path in tmp_path.glob("app.db*"):
        path.unlink()
    shutil.rmtree(tmp_path / ".app.db-litestream")

    proc = run_replicate("-restore-if-db-not-exists", "-config", str(cfg))
    try:
        wait_for(lambda: db.exists(), timeout=30)
        time.sleep(0.3)
        writer = Writer(db, seed=5)
        assert writer.rows() == before
        writer.step(20)  # continues on top of the restored state, replica is ahead
        time.sleep(0.5)
    finally:
        assert stop_process(proc) == 0, proc.stderr.read().decode()
    assert restore_rows(tmp_path, replica) == writer.rows()
    writer.close()


def test_storage_down_at_shutdown_retries_until_a_second_signal(tmp_path):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(3)
    proc = run_replicate("-config", str(write_config(tmp_path, db, replica)))
    wait_for(lambda: (replica / "ltx" / "0").exists(), timeout=30)
    time.sleep(0.3)
    shutil.move(replica, tmp_path / "moved")
    replica.write_text("storage is gone")  # every upload now fails
    writer.step(5)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None  # still retrying the final sync (timeout 30 s)
    code = stop_process(proc, signal.SIGTERM, timeout=10)
    assert code == 1
    assert "final sync did not complete" in proc.stderr.read().decode()
    writer.close()
