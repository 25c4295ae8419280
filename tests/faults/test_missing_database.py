"""``replicate`` of a database path that does not exist yet: it says so, naming the
path, once (then again only at a slow, doubling interval), and replicates the database
as soon as the file appears, without a restart."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from network_backends import Backend
from outage_harness import SLACK, Run


def test_missing_database_is_reported_until_it_appears(tmp_path: Path) -> None:
    backend = Backend("file", None, None, [f"url: file://{tmp_path}/replica"])
    run = Run(backend, tmp_path / "run")
    run.close()  # Run made the database; this test needs it missing at start
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run.db}{suffix}").unlink(missing_ok=True)
    try:
        rep = run.start()
        run.wait(lambda: "database file does not exist" in run.output(), "not reported", SLACK)
        line = next(ln for ln in run.output().splitlines() if "does not exist" in ln)
        assert str(run.db) in line and "level=WARN" in line
        time.sleep(3)
        assert run.output().count("does not exist") == 1, "repeated too soon"

        run.conn = sqlite3.connect(run.db, isolation_level=None)
        run.conn.execute("PRAGMA journal_mode=WAL")
        run.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        run.write(3)
        run.wait(lambda: "database file appeared" in run.output(), "appearance not logged")
        run.wait(run.caught_up, "the new database was not replicated")
        rep.stop()
        run.assert_restore_is_committed(tmp_path / "restored.db", must_succeed=True)
    finally:
        run.close()
