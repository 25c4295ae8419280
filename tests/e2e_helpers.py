"""Shared pieces of the end-to-end tests: an application writer, configs, processes."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LITESTREAM = [str(Path(sys.executable).with_name("litestream"))]


def litestream(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run our CLI to completion."""
    return subprocess.run(
        [*LITESTREAM, *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def run_replicate(*args: str, **kwargs) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*LITESTREAM, "replicate", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        **kwargs,
    )  # fmt: skip


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def write_config(
    tmp_path: Path, db: Path, replica: Path, *, extra_db: str = "", extra: str = ""
) -> Path:
    """A config with short intervals so tests run in seconds."""
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        f"{extra}dbs:\n  - path: {db}\n    monitor-interval: 50ms\n{extra_db}"
        f"    replica:\n      url: file://{replica}\n      sync-interval: 50ms\n"
    )
    return cfg


def rows_of(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, v, n FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


class Writer:
    """The application: the stdlib sqlite3 module in WAL mode, default auto-checkpoint."""

    def __init__(self, path: Path, seed: int = 1) -> None:
        self.path = path
        self.rng = random.Random(seed)
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB, n INT)")
        self.count = 0

    def step(self, n: int = 1) -> None:
        """``n`` mixed transactions: inserts, multi-page blobs, updates, deletes."""
        for _ in range(n):
            self.count += 1
            kind = self.rng.random()
            with self.conn:
                if kind < 0.5:
                    self.conn.execute("INSERT INTO t (v, n) VALUES (?, ?)",
                                      (self.rng.randbytes(self.rng.randint(1, 200)), self.count))  # fmt: skip
                elif kind < 0.65:
                    self.conn.execute("INSERT INTO t (v, n) VALUES (?, ?)",
                                      (self.rng.randbytes(self.rng.randint(5000, 40000)), self.count))  # fmt: skip
                elif kind < 0.85:
                    self.conn.execute("UPDATE t SET n = n + 1, v = ? WHERE id % 7 = ?",
                                      (self.rng.randbytes(50), self.count % 7))  # fmt: skip
                else:
                    self.conn.execute("DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 3)")

    def vacuum(self) -> None:
        self.conn.execute("VACUUM")

    def rows(self) -> list[tuple]:
        return self.conn.execute("SELECT id, v, n FROM t ORDER BY id").fetchall()

    def close(self) -> None:
        self.conn.close()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)
