"""Restoring replicas Go Litestream 0.3.13 wrote (``generations/``), from a file replica.

Our ``restore`` picks the v0.3 files by itself when they are the better backup, replays
their WAL segments, and honours ``-timestamp``; Go 0.5.17 restores the same replica to
the same rows.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import litestream

from litestream_core.engine.legacy_v03 import parse_listing, plan_v03
from litestream_core.testing.legacy import rows, write_v03_history


def restore(*args: str) -> None:
    proc = litestream("restore", *args)
    assert proc.returncode == 0, proc.stderr


def test_go_03_file_replica_restores_latest_and_at_each_time(
    tmp_path, go_litestream_03, go_litestream, go_env
):
    replica = tmp_path / "replica"
    history = write_v03_history(go_litestream_03, tmp_path, [f"url: file://{replica}"])
    url = f"file://{replica}"
    assert list(replica.glob("generations/*/wal/*.wal.lz4")), "Go 0.3 wrote WAL segments"
    restore("-o", str(tmp_path / "latest.db"), url)
    assert rows(tmp_path / "latest.db") == rows(history.db)
    for i, (when, expected) in enumerate(history.marks):
        out = tmp_path / f"at-{i}.db"
        restore("-timestamp", when.isoformat(), "-o", str(out), url)
        assert rows(out) == expected, f"state at mark {i}"
    subprocess.run([str(go_litestream), "restore", "-o", str(tmp_path / "go5.db"), url],
                   check=True, capture_output=True, env=go_env)  # fmt: skip
    assert rows(tmp_path / "go5.db") == rows(tmp_path / "latest.db")


def test_newer_ltx_data_wins_and_damage_is_refused(tmp_path, go_litestream_03):
    replica = tmp_path / "replica"
    history = write_v03_history(go_litestream_03, tmp_path, [f"url: file://{replica}"],
                                batches=1)  # fmt: skip
    url = f"file://{replica}"
    # The database moves on under v0.5 (LTX files): those are newer, so they win.
    conn = sqlite3.connect(history.db)
    conn.execute("INSERT INTO t (body) VALUES (x'01')")
    conn.commit()
    conn.close()
    assert litestream("replicate", "-once", str(history.db), url).returncode == 0
    restore("-o", str(tmp_path / "ltx.db"), url)
    assert rows(tmp_path / "ltx.db") == rows(history.db)
    # ...and a time before the LTX files still gets the v0.3 state.
    restore("-timestamp", history.marks[0][0].isoformat(), "-o", str(tmp_path / "old.db"), url)
    assert rows(tmp_path / "old.db") == history.marks[0][1]

    # A damaged WAL segment: one clear line, nothing written.
    segment = max(replica.glob("generations/*/wal/*.wal.lz4"))
    stamp = segment.stat().st_mtime_ns
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    os.utime(segment, ns=(stamp, stamp))  # still part of the state at the mark
    out = tmp_path / "damaged.db"
    proc = litestream("restore", "-timestamp", history.marks[0][0].isoformat(), "-o",
                      str(out), url)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("Error: ") and len(proc.stderr.splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".damaged.db*"))


def test_plan_takes_the_newest_snapshot_and_its_segments():
    from datetime import UTC, datetime, timedelta

    from litestream_core.client import LegacyFileInfo

    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def f(path: str, minutes: int) -> LegacyFileInfo:
        return LegacyFileInfo(path, 10, t0 + timedelta(minutes=minutes))

    gen_a, gen_b = "0" * 15 + "a", "0" * 15 + "b"
    files = [
        f(f"generations/{gen_a}/snapshots/00000000.snapshot.lz4", 0),
        f(f"generations/{gen_a}/wal/00000000_00000000.wal.lz4", 1),
        f(f"generations/{gen_a}/wal/00000001_00000000.wal.lz4", 2),
        f(f"generations/{gen_b}/snapshots/00000003.snapshot.lz4", 10),
        f(f"generations/{gen_b}/wal/00000003_00000000.wal.lz4", 11),
        f(f"generations/{gen_b}/wal/00000002_00000000.wal.lz4", 9),
        f(f"generations/{gen_b}/junk.txt", 12),
    ]
    generations = parse_listing(files)
    latest = plan_v03(generations, None)
    assert latest is not None and latest.position == f"{gen_b}/00000003:00000000"
    early = plan_v03(generations, t0 + timedelta(minutes=1, seconds=30))
    assert early is not None and early.position == f"{gen_a}/00000000:00000000"
    assert plan_v03(generations, t0 - timedelta(minutes=1)) is None
