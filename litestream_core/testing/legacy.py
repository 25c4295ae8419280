"""Replicas written by the real Go Litestream 0.3.13, for tests of v0.3 restores.

Go 0.3 copies the WAL about once a second; each batch of writes is given time to
reach the replica before its moment is recorded, and the next batch starts more than a
second later (S3 stores times in whole seconds), so a restore at that moment must show
exactly the batches up to it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestream_core.testing.e2e import rows

__all__ = ["LegacyHistory", "rows", "write_v03_history"]

SETTLE = 2.5
"""Seconds for Go 0.3 to ship a batch (its WAL monitor runs every second)."""


@dataclass
class LegacyHistory:
    db: Path
    marks: list[tuple[datetime, list[tuple[Any, ...]]]] = field(default_factory=list)


def write_v03_history(
    go03: Path,
    tmp_path: Path,
    replica: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    batches: int = 3,
) -> LegacyHistory:
    """Run Go 0.3.13 ``replicate`` on a database written in ``batches``; ``replica``
    holds the replica's v0.3 config lines (``type: s3``, ``bucket: ...``)."""
    db = tmp_path / "legacy-src.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    config = tmp_path / "litestream-v03.yml"
    lines = ["dbs:", f"  - path: {db}", "    replicas:"]
    lines += [("      - " if i == 0 else "        ") + line for i, line in enumerate(replica)]
    config.write_text("\n".join([*lines, "        sync-interval: 100ms", ""]))
    log = tmp_path / "go03.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(go03), "replicate", "-config", str(config)], stdout=out,
            stderr=subprocess.STDOUT, env=None if env is None else dict(env),
        )  # fmt: skip
    history = LegacyHistory(db)
    try:
        time.sleep(SETTLE)  # the first snapshot
        for batch in range(batches):
            for _ in range(25):
                conn.execute("INSERT INTO t (body) VALUES (randomblob(?))", (400 + batch * 1500,))
            time.sleep(SETTLE)
            assert proc.poll() is None, log.read_text()
            history.marks.append((datetime.now(UTC), rows(db)))
            time.sleep(1.1)  # S3 keeps whole seconds: the next batch must be a second later
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        conn.close()
    return history
