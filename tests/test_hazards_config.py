"""Hazard 24 (Go's reliability table): two databases sharing one meta directory.

Their L0 files would mix under one TXID sequence; the configuration is refused with
one line before anything is touched.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from e2e_helpers import litestream


def test_two_databases_with_one_meta_path_are_refused(tmp_path: Path) -> None:
    for name in ("a.db", "b.db"):
        conn = sqlite3.connect(tmp_path / name)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.close()
    meta = tmp_path / "meta"
    config = tmp_path / "litestream.yml"
    config.write_text(
        "dbs:\n"
        + "".join(
            f"  - path: {tmp_path / name}\n    meta-path: {meta}\n"
            f"    replica:\n      path: {tmp_path / ('replica-' + name)}\n"
            for name in ("a.db", "b.db")
        )
    )
    result = litestream("replicate", "-config", str(config), timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "share the meta directory" in lines[0], lines
    assert not meta.exists()
    assert not list(tmp_path.glob("replica-*"))
