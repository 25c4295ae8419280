"""A replicator under a storage fault, as an operator runs it: the CLI with a config,
an application writing, the log and the Prometheus metrics to watch.

Deadlines are short (``network_backends.TIMEOUT``, ``STALL_WARNING``) so that each
fault shows within seconds. ``in_parallel`` runs one scenario against several backends
at once, so the suite's time is that of the slowest backend, not their sum.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from network_backends import Backend, start_backend

from litestream_core.testing.e2e import OUR_LITESTREAM, Replicate
from litestream_core.testing.servers import free_port

STALL_WARNING = 2.0
"""Seconds without progress before the replicator warns (``stall-warning``)."""
SLACK = 5.0
"""Seconds of scheduling slack allowed on a loaded machine beyond a configured deadline."""


class Run:
    """One database replicated by our CLI to ``backend`` through its proxy."""

    def __init__(self, backend: Backend, work: Path, *, db_lines: Sequence[str] = ()) -> None:
        self.backend = backend
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.db = work / "app.db"
        self.metrics_port = free_port()
        self.config = work / "litestream.yml"
        lines = [
            f"addr: 127.0.0.1:{self.metrics_port}",
            "dbs:",
            f"  - path: {self.db}",
            "    monitor-interval: 100ms",
            *(f"    {line}" for line in db_lines),
            "    replica:",
            *(f"      {line}" for line in backend.replica),
            "      sync-interval: 100ms",
            f"      stall-warning: {STALL_WARNING:g}s",
        ]
        self.config.write_text("\n".join(lines) + "\n")
        self.conn = sqlite3.connect(self.db, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        self.rep: Replicate | None = None

    def start(self) -> Replicate:
        self.rep = Replicate(self.config, self.work / "replicate.log", env=self.backend.env)
        self.wait(lambda: "replicating database" in self.output(), "replicate did not start", 60)
        return self.rep

    def write(self, n: int = 1) -> None:
        for _ in range(n):
            self.conn.execute("INSERT INTO t (body) VALUES (randomblob(3000))")

    def rows(self, path: Path | None = None) -> list[tuple[int, bytes]]:
        conn = sqlite3.connect(f"file:{path or self.db}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()
        finally:
            conn.close()

    def output(self) -> str:
        return self.rep.output() if self.rep is not None else ""

    def since(self, mark: int) -> str:
        """The log written after ``mark`` (a length of ``output()``)."""
        return self.output()[mark:]

    def wait(self, condition: Callable[[], bool], failure: str, timeout: float = 30) -> float:
        """Poll ``condition``; returns the seconds it took, fails with the log after ``timeout``."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{self.backend.name}: {failure}\n{self.output()[-4000:]}")
            if self.rep is not None and self.rep.proc.poll() is not None:
                raise AssertionError(f"{self.backend.name}: replicate exited\n{self.output()}")
            time.sleep(0.1)
        return time.monotonic() - start

    def metrics(self) -> dict[str, float]:
        """This database's series of /metrics, by metric name."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        found: dict[str, float] = {}
        for m in re.finditer(r'^(litestream_\w+)\{db="([^"]*)"\} (\S+)$', text, re.M):
            if m[2] == str(self.db):
                found[m[1]] = float(m[3])
        return found

    def caught_up(self) -> bool:
        values = self.metrics()
        return (
            values.get("litestream_txid", 0) > 0
            and values.get("litestream_replica_txid") == values.get("litestream_txid")
            and values.get("litestream_replica_lag_seconds") == 0
        )

    def restore(self, out: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OUR_LITESTREAM), "restore", "-config", str(self.config), "-o", str(out),
             str(self.db)],
            capture_output=True, text=True, env=self.backend.env, timeout=120,
        )  # fmt: skip

    def assert_restore_is_committed(self, out: Path, *, must_succeed: bool) -> None:
        """A restore equals a committed state (a prefix of the rows written), or fails
        with one clear line and leaves nothing behind."""
        done = self.restore(out)
        if done.returncode != 0:
            assert not must_succeed, f"{self.backend.name}: restore failed: {done.stderr}"
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
            assert "Traceback" not in done.stderr
            assert not out.exists()
            return
        restored, source = self.rows(out), self.rows()
        assert restored == source[: len(restored)], f"{self.backend.name}: not a committed state"
        if must_succeed:
            assert restored == source, f"{self.backend.name}: restore lacks committed rows"

    def close(self) -> None:
        if self.rep is not None and self.rep.proc.poll() is None:
            self.rep.proc.kill()
            self.rep.proc.wait()
        self.conn.close()


def in_parallel(names: Sequence[str], work: Path, scenario: Callable[[Run], None]) -> None:
    """Run ``scenario`` against each backend at once; report every backend that failed."""

    def one(name: str) -> str | None:
        backend = start_backend(name, work / name / "server")
        run = Run(backend, work / name)
        try:
            scenario(run)
        except BaseException:
            return f"--- {name} ---\n{traceback.format_exc()}"
        finally:
            run.close()
            backend.close()
        return None

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        failures = [f for f in pool.map(one, names) if f is not None]
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
