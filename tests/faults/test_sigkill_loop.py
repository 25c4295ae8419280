"""SIGKILL of ``litestream replicate`` in the middle of snapshots and compactions.

Compaction runs every second and a snapshot every two, over a database of a few MiB,
while an application writes without pause. Each round starts the replicator, waits
until it is writing a compacted file or a snapshot (a temporary file of one exists,
on the replica or in the meta directory's scratch space) and kills it there. After
every kill: whatever restores is a state the application committed; once the next
run has started, no temporary file of an earlier run is left anywhere. At the end
the replicator catches up and the replica restores the application's database.

``run_kill_loop(kills=...)`` is shared with the soak in bench/fault_soak.py.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from litestream_core.testing.e2e import OUR_LITESTREAM

KILLS = 5
"""Rounds in CI; the soak runs a hundred and more."""
ROW = 4000


def row(i: int) -> tuple[int, bytes]:
    """Row ``i`` is a pure function of ``i``, so any restored state can be checked."""
    return i, random.Random(i).randbytes(ROW)


class Writer(threading.Thread):
    """Commits one or two rows at a time, as fast as it can, until stopped."""

    def __init__(self, db: Path, start: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.db, self.count, self.pause = db, start, pause
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        try:
            while not self.halt.wait(self.pause):
                n = 1 + self.count % 2
                conn.executemany("INSERT INTO t (id, v) VALUES (?, ?)",
                                 [row(self.count + k + 1) for k in range(n)])  # fmt: skip
                self.count += n
        except BaseException as exc:
            self.error = exc
        finally:
            conn.close()


def glob(root: Path, pattern: str) -> list[Path]:
    """``root.glob(pattern)``, tolerating directories the replicator removes meanwhile."""
    while True:
        try:
            return list(root.glob(pattern))
        except FileNotFoundError:
            continue


def temp_files(*roots: Path) -> set[Path]:
    return {p for root in roots for p in glob(root, "**/*.tmp")}


def in_flight(replica: Path, meta: Path) -> str | None:
    """What is being written right now: ``snapshot``, ``compaction`` or None."""
    scratch = {p.name for p in glob(meta, ".compact-*/*.tmp")}
    if glob(replica, "ltx/9/.*.tmp") or "snapshot.ltx.tmp" in scratch:
        return "snapshot"
    if glob(replica, "ltx/[1-8]/.*.tmp") or scratch - {"snapshot.ltx.tmp"}:
        return "compaction"
    return None


def restored_rows(out: Path, replica: Path) -> list[tuple[int, bytes]] | None:
    """Rows restored from the replica; None when the restore failed cleanly."""
    done = subprocess.run(
        [str(OUR_LITESTREAM), "restore", "-o", str(out), f"file://{replica}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    for sidecar in (out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    if done.returncode != 0:
        assert done.stderr.strip().startswith("Error: ") and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        return None
    conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    finally:
        conn.close()
        for path in (out, out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
            path.unlink(missing_ok=True)


def assert_committed(rows: list[tuple[int, bytes]] | None) -> None:
    if rows is not None:
        assert rows == [row(i) for i in range(1, len(rows) + 1)], "not a committed state"


def run_kill_loop(work: Path, kills: int, *, pause: float = 0.002) -> dict[str | None, int]:
    """The loop above, ``kills`` rounds, the writer resting ``pause`` seconds between
    commits (longer in a soak, so the database stays small); returns how many kills hit
    what (None: nothing was in flight when the round's time ran out)."""
    db, replica, meta = work / "app.db", work / "replica", work / ".app.db-litestream"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [row(i) for i in range(1, 1001)])
    conn.close()
    config = work / "litestream.yml"
    config.write_text(
        "levels:\n  - interval: 1s\n  - interval: 2s\n"
        "snapshot:\n  interval: 2s\n  retention: 10s\n"
        "l0-retention: 1s\nl0-retention-check-interval: 1s\n"
        f"dbs:\n  - path: {db}\n    monitor-interval: 50ms\n"
        f"    replica:\n      url: file://{replica}\n      sync-interval: 50ms\n"
    )
    writer = Writer(db, 1000, pause)
    writer.start()
    hits: dict[str | None, int] = {}
    try:
        for n in range(kills):
            left = temp_files(replica, meta)
            hits["temp files left by a kill"] = hits.get("temp files left by a kill", 0) + len(left)
            log = work / f"run-{n}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen([str(OUR_LITESTREAM), "replicate", "-config", str(config)],
                                        stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
            try:
                deadline = time.monotonic() + 60
                while "replicating database" not in log.read_text():
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.01)
                # The new run sweeps what the killed one left (meta at open, the
                # replica by its watchdog just after).
                while left & temp_files(replica, meta):
                    assert time.monotonic() < deadline, (
                        f"left behind: {left & temp_files(replica, meta)}"
                    )
                    time.sleep(0.05)
                # Alternate targets; a round whose target never shows is killed anyway.
                target = ("snapshot", "compaction")[n % 2]
                hit_by = time.monotonic() + 4 + random.random() * 2
                while (kind := in_flight(replica, meta)) != target and time.monotonic() < hit_by:
                    time.sleep(0.001)
                hits[kind] = hits.get(kind, 0) + 1
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            assert "Traceback" not in log.read_text()
            assert_committed(restored_rows(work / "restored.db", replica))
        writer.halt.set()
        writer.join()
        assert writer.error is None, writer.error

        # Stopped cleanly at last: everything committed is on the replica.
        with (work / "final.log").open("wb") as out:
            final = subprocess.Popen([str(OUR_LITESTREAM), "replicate", "-config", str(config)],
                                     stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        time.sleep(3)
        final.send_signal(signal.SIGTERM)
        assert final.wait(60) == 0
        rows = restored_rows(work / "restored.db", replica)
        assert rows == [row(i) for i in range(1, writer.count + 1)]
        assert not temp_files(replica, meta)
    finally:
        writer.halt.set()
    return hits


def test_sigkill_during_snapshots_and_compactions(tmp_path: Path) -> None:
    hits = run_kill_loop(tmp_path, KILLS)
    print(f"kills landed during: {hits}")
    assert hits.get("snapshot"), f"no kill landed during a snapshot: {hits}"
    assert hits.get("temp files left by a kill"), f"no kill left a file to sweep: {hits}"


def test_replicate_once_sweeps_what_a_killed_run_left(tmp_path: Path) -> None:
    """A cron job running ``replicate -once`` that was killed mid-upload: the next run
    removes the temporary file it left (its process is gone)."""
    from litestream_core.backend_support import tempfiles

    db, replica = tmp_path / "app.db", tmp_path / "replica"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [row(i) for i in range(1, 11)])
    conn.commit()
    conn.close()
    dead = subprocess.Popen(["true"])
    dead.wait()
    level = replica / "ltx" / "0"
    level.mkdir(parents=True)
    left = level / f".0000000000000001-0000000000000001.ltx.{tempfiles._HOST}~{dead.pid}.ab.tmp"
    left.write_bytes(b"half a file")
    done = subprocess.run(
        [str(OUR_LITESTREAM), "replicate", "-once", str(db), f"file://{replica}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not left.exists()
    assert restored_rows(tmp_path / "restored.db", replica) == [row(i) for i in range(1, 11)]
