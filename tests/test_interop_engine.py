"""Interop with the real Go Litestream 0.5.17 binary, in both directions.

Go's replica restored by us must be byte-identical to Go's own restore of it; our
replica must restore with the Go binary to the source database's content.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import (
    Writer,
    litestream,
    rows_of,
    run_replicate,
    stop_process,
    wait_for_upload,
    write_config,
)


def _go_config(tmp_path: Path, db: Path, replica: Path) -> Path:
    cfg = tmp_path / "go.yml"
    cfg.write_text(
        f"dbs:\n  - path: {db}\n    monitor-interval: 100ms\n"
        f"    replica:\n      path: {replica}\n      sync-interval: 100ms\n"
    )
    return cfg


def test_go_replica_restores_with_ours_byte_identical(tmp_path, go_litestream, go_env):
    db = tmp_path / "app.db"
    replica = tmp_path / "replica"
    writer = Writer(db)
    writer.step(20)
    go = subprocess.Popen(
        [str(go_litestream), "replicate", "-config", str(_go_config(tmp_path, db, replica))],
        env=go_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            writer.step(5)
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        stop_process(go)
    writer.close()
    assert list((replica / "ltx").glob("*/*.ltx")), "the Go binary wrote no LTX files"

    go_out = tmp_path / "go.db"
    subprocess.run(
        [str(go_litestream), "restore", "-o", str(go_out), f"file://{replica}"],
        env=go_env, check=True, capture_output=True,
    )  # fmt: skip
    ours = tmp_path / "ours.db"
    result = litestream("restore", "-o", str(ours), "-integrity-check", "full", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert ours.read_bytes() == go_out.read_bytes()

    # A point in the middle of the history, by TXID, with both tools.
    txids = sorted(int(p.name[17:33], 16) for p in (replica / "ltx").glob("*/*.ltx"))
    middle = f"{txids[len(txids) // 2]:016x}"
    go_mid, our_mid = tmp_path / "go-mid.db", tmp_path / "our-mid.db"
    subprocess.run(
        [str(go_litestream), "restore", "-txid", middle, "-o", str(go_mid), f"file://{replica}"],
        env=go_env, check=True, capture_output=True,
    )  # fmt: skip
    result = litestream("restore", "-txid", middle, "-o", str(our_mid), f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert our_mid.read_bytes() == go_mid.read_bytes()


def test_our_replica_restores_with_go(tmp_path, go_litestream, go_env):
    db = tmp_path / "app.db"
    replica = tmp_path / "replica"
    writer = Writer(db)
    writer.step(10)
    cfg = write_config(tmp_path, db, replica)
    proc = run_replicate("-config", str(cfg))
    try:
        wait_for_upload(replica, 0)
        for _ in range(30):
            writer.step(3)
            time.sleep(0.02)
        writer.vacuum()
        writer.step(3)
        time.sleep(1.0)
    finally:
        assert stop_process(proc) == 0, proc.stderr.read().decode() if proc.stderr else ""
    expected = rows_of(db)
    writer.close()

    out = tmp_path / "go-restored.db"
    done = subprocess.run(
        [str(go_litestream), "restore", "-o", str(out), f"file://{replica}"],
        env=go_env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert rows_of(out) == expected
    with sqlite3.connect(out) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
