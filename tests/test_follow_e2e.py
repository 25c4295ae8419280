"""``restore -f`` end to end: a writer, our replicator, and two followers (ours and Go's)
read read-only while they apply changes.

Each transaction of the writer inserts a row and bumps a counter in another table, so
a reader that sees the row count differ from the counter inside one read transaction
has seen a torn state.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import LITESTREAM, replica_max_txid, stop_process, wait_for

from litestream_core.engine.follow import read_sidecar
from litestream_core.ltx import HEADER_SIZE, Header
from litestream_core.testing.e2e import Replicate, rows, write_config

INTERVAL = 1.0


class CountingWriter:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        self.conn.execute("CREATE TABLE n (k INTEGER PRIMARY KEY, c INT)")
        self.conn.execute("INSERT INTO n VALUES (1, 0)")

    def write(self, count: int, pause: float = 0.005) -> None:
        for i in range(count):
            self.conn.execute("BEGIN")
            size = 200 if i % 5 else 9000  # now and then a row on overflow pages
            self.conn.execute("INSERT INTO t (body) VALUES (randomblob(?))", (size,))
            self.conn.execute("UPDATE n SET c = c + 1")
            self.conn.execute("COMMIT")
            time.sleep(pause)

    def rows(self) -> list[tuple]:
        return self.conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()


class Reader(threading.Thread):
    """Reads a follower read-only in a loop, as an application would: over one
    connection, or with a new connection for every read (``reconnect``)."""

    def __init__(self, path: Path, *, reconnect: bool = False) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.reconnect = reconnect
        self.stop = threading.Event()
        self.reads = 0
        self.torn: list[str] = []

    def run(self) -> None:
        while not self.path.exists() and not self.stop.is_set():
            time.sleep(0.01)
        conn = self.connect()
        try:
            while not self.stop.is_set():
                self.read(conn)
                if self.reconnect:
                    conn.close()
                    conn = self.connect()
        finally:
            conn.close()

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30,
                               isolation_level=None)  # fmt: skip

    def read(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN")
            rows = conn.execute("SELECT count(*) FROM t").fetchone()[0]
            counter = conn.execute("SELECT c FROM n").fetchone()[0]
            if self.reads % 20 == 0:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    self.torn.append(f"quick_check: {check}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.torn.append(str(exc))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return
        if rows != counter:
            self.torn.append(f"{rows} rows but counter {counter}")
        self.reads += 1


def follow(out: Path, replica: Path, *, go: Path | None = None, log: Path) -> subprocess.Popen:
    argv = [str(go)] if go else LITESTREAM
    with log.open("ab") as f:
        return subprocess.Popen(
            [*argv, "restore", "-f", "-follow-interval", f"{INTERVAL:g}s", "-o", str(out),
             f"file://{replica}"],
            stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "AWS_CA_BUNDLE": ""},
        )  # fmt: skip


def newest_ltx_time(replica: Path) -> float:
    """When the replicator made the newest LTX file (its header timestamp), in seconds."""
    newest = max(replica.glob("ltx/0/*.ltx"), key=lambda p: p.name)
    with newest.open("rb") as f:
        return Header.decode(f.read(HEADER_SIZE)).timestamp / 1000


def test_followers_stay_readable_and_catch_up(tmp_path, go_litestream):
    db, replica = tmp_path / "src.db", tmp_path / "replica"
    writer = CountingWriter(db)
    writer.write(20)
    cfg = write_config(tmp_path / "ls.yml", db, [f"url: file://{replica}"])
    repl = Replicate(cfg, tmp_path / "replicate.log")
    procs: list[subprocess.Popen] = []
    readers: list[Reader] = []
    try:
        wait_for(lambda: replica_max_txid(replica) > 0)
        ours, theirs = tmp_path / "ours.db", tmp_path / "go.db"
        procs = [follow(ours, replica, log=tmp_path / "ours.log"),
                 follow(theirs, replica, go=go_litestream, log=tmp_path / "go.log")]  # fmt: skip
        # Go's follower leaves its first restore in WAL mode (until a change reaches
        # page 1), and a WAL reader holding its connection open stalls it for good; so
        # Go's is read with a new connection each time. Ours is read both ways.
        readers = [Reader(ours), Reader(ours, reconnect=True), Reader(theirs, reconnect=True)]
        for r in readers:
            r.start()
        writer.write(300)
        repl.stop()
        last = replica_max_txid(replica)
        synced_at = newest_ltx_time(replica)
        for out in (ours, theirs):
            wait_for(lambda out=out: read_sidecar(out) == last, timeout=30)
    finally:
        for r in readers:
            r.stop.set()
            r.join(10)
        for p in procs:
            assert stop_process(p, signal.SIGINT) == 0, "a follower stops cleanly on SIGINT"
    expected = writer.rows()
    for out in (ours, theirs):
        assert rows(out) == expected
        lag = Path(f"{out}-txid").stat().st_mtime - synced_at
        assert lag <= 2 * INTERVAL, f"{out.name} caught up {lag:.2f}s after the last sync"
    for reader in readers:
        assert reader.reads > 10, reader.path
    assert readers[0].torn == readers[1].torn == [], "our follower showed a torn state"


def test_killed_follower_resumes_from_its_sidecar(tmp_path):
    db, replica = tmp_path / "src.db", tmp_path / "replica"
    writer = CountingWriter(db)
    writer.write(10)
    cfg = write_config(tmp_path / "ls.yml", db, [f"url: file://{replica}"])
    repl = Replicate(cfg, tmp_path / "replicate.log")
    out = tmp_path / "follower.db"
    log = tmp_path / "follower.log"
    try:
        wait_for(lambda: replica_max_txid(replica) > 0)
        proc = follow(out, replica, log=log)
        wait_for(lambda: (read_sidecar(out) or 0) > 0)
        writer.write(100, pause=0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = read_sidecar(out)
        writer.write(50, pause=0.002)
        proc = follow(out, replica, log=log)
        repl.stop()
        last = replica_max_txid(replica)
        wait_for(lambda: read_sidecar(out) == last, timeout=30)
        assert stop_process(proc, signal.SIGTERM) == 0
    except BaseException:
        print(log.read_text())
        raise
    assert 'msg="resuming following the replica"' in log.read_text()
    assert killed_at is not None and killed_at < last
    assert rows(out) == writer.rows()


def test_follow_refuses_txid_and_timestamp(tmp_path):
    for flags in (["-txid", "0000000000000002"], ["-timestamp", "2026-01-01T00:00:00Z"],
                  ["-dry-run"]):  # fmt: skip
        proc = subprocess.run(
            [*LITESTREAM, "restore", "-f", *flags, "-o", str(tmp_path / "x.db"),
             f"file://{tmp_path}/none"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 1
        assert proc.stderr.startswith("Error: cannot use"), proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("interval", ["0s", "soon"])
def test_follow_interval_must_be_a_positive_duration(tmp_path, interval):
    proc = subprocess.run(
        [*LITESTREAM, "restore", "-f", "-follow-interval", interval, "-o",
         str(tmp_path / "x.db"), f"file://{tmp_path}/none"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and "-follow-interval" in proc.stderr


def test_a_reader_that_stays_connected_stalls_go_but_not_us(tmp_path, go_litestream):
    """Go 0.5.17 leaves its first restore in WAL mode; a reader holding its connection
    then holds a lock Go's follower waits for. Ours is restored in rollback mode."""
    db, replica = tmp_path / "src.db", tmp_path / "replica"
    writer = CountingWriter(db)
    writer.write(10)
    cfg = write_config(tmp_path / "ls.yml", db, [f"url: file://{replica}"])
    repl = Replicate(cfg, tmp_path / "replicate.log")
    ours, theirs = tmp_path / "ours.db", tmp_path / "go.db"
    procs: list[subprocess.Popen] = []
    readers = [Reader(ours), Reader(theirs)]
    try:
        wait_for(lambda: replica_max_txid(replica) > 0)
        procs = [follow(ours, replica, log=tmp_path / "ours.log"),
                 follow(theirs, replica, go=go_litestream, log=tmp_path / "go.log")]  # fmt: skip
        wait_for(lambda: (read_sidecar(ours) or 0) > 0 and (read_sidecar(theirs) or 0) > 0)
        for r in readers:
            r.start()
        wait_for(lambda: all(r.reads > 0 for r in readers))
        writer.write(50)
        repl.stop()
        last = replica_max_txid(replica)
        wait_for(lambda: read_sidecar(ours) == last, timeout=30)
        time.sleep(3 * INTERVAL)
        assert read_sidecar(theirs) < last, "Go's follower was expected to stall"
    finally:
        for r in readers:
            r.stop.set()
            r.join(10)
        for p in procs:
            stop_process(p, signal.SIGINT)
    assert readers[0].torn == []
