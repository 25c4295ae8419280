"""``litestream query``: rows from a replica through the VFS, as text or JSON."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import litestream


def make_replica(tmp_path: Path) -> tuple[str, datetime]:
    db = tmp_path / "src.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB, score REAL)")
    conn.execute("INSERT INTO t VALUES (1, 'one', x'00ff', 1.5), (2, NULL, NULL, 2.0)")
    url = f"file://{tmp_path / 'replica'}"
    assert litestream("replicate", "-once", str(db), url).returncode == 0
    middle = datetime.now(UTC)
    time.sleep(0.05)
    conn.execute("INSERT INTO t VALUES (3, 'three', NULL, NULL)")
    assert litestream("replicate", "-once", str(db), url).returncode == 0
    conn.close()
    return url, middle


def test_rows_as_text_and_json(tmp_path):
    url, middle = make_replica(tmp_path)
    proc = litestream("query", url, "SELECT id, name, data, score FROM t ORDER BY id")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["1|one|X'00FF'|1.5", "2|||2.0", "3|three||"]
    proc = litestream("query", "-json", url, "SELECT id, name, data FROM t WHERE id < 3")
    assert json.loads(proc.stdout) == [
        {"id": 1, "name": "one", "data": "00ff"},
        {"id": 2, "name": None, "data": None},
    ]
    proc = litestream("query", "-timestamp", middle.isoformat(), url, "SELECT count(*) FROM t")
    assert proc.stdout == "2\n", proc.stderr


def test_errors_are_one_line_and_nothing_is_written(tmp_path):
    url, _ = make_replica(tmp_path)
    for sql in ("SELECT * FROM missing", "DELETE FROM t", "not sql"):
        proc = litestream("query", url, sql)
        assert proc.returncode == 1
        assert proc.stderr.startswith("Error: query failed:"), proc.stderr
        assert len(proc.stderr.splitlines()) == 1
    assert litestream("query", url, "SELECT count(*) FROM t").stdout == "3\n"
    proc = litestream("query", f"file://{tmp_path / 'empty'}", "SELECT 1")
    assert proc.returncode == 1 and proc.stderr == "Error: no backups found on the replica\n"
    proc = litestream("query", "-timestamp", "yesterday", url, "SELECT 1")
    assert proc.returncode == 1 and "RFC 3339" in proc.stderr
