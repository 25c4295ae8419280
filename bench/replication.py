"""Replication side by side: our `litestream` against Go Litestream 0.5.17, same work.

Measures, for each tool in the same run:
- commit-to-replica lag (p50/p99) at 10, 100 and 1000 transactions per second;
- replicator CPU seconds per 1,000 transactions and per 100 MB of WAL;
- peak RSS of the replicator;
- restore time of a large database, against Go's restore and against `cp`.

Lag is measured without trusting either tool's logs: the writer records, after each
commit, the WAL salt and the WAL size (the end of that commit's frames); an observer
polls the file replica's L0 directory and reads each new file's LTX header (WAL offset,
size and salt). A commit is on the replica once a file from the same WAL generation
ends at or past its frames, or a file from a later generation exists.

Run: ``uv run python bench/replication.py [--quick]``; results go to stdout as a
Markdown table (copy them into bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = [str(ROOT / ".venv" / "bin" / "litestream")]
GO = [os.environ.get("LITESTREAM_GO_BIN", str(ROOT / ".peer" / "bin" / "litestream"))]
LTX_HEADER = struct.Struct(">4sIIIQQqQqqII")


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    return env


@dataclass
class ProcStats:
    cpu_seconds: float
    peak_rss_mb: float


def proc_stats(pid: int) -> ProcStats:
    """CPU time and peak RSS of a live process, from /proc (before it exits)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return ProcStats(cpu, hwm)


def wal_salt(db: Path) -> int:
    with open(f"{db}-wal", "rb") as f:
        header = f.read(32)
    return struct.unpack(">Q", header[16:24])[0] if len(header) == 32 else 0


@dataclass
class Commit:
    at: float
    salt: int
    end: int


@dataclass
class Observed:
    at: float
    salt: int
    end: int


@dataclass
class Observer:
    """Polls a file replica's L0 directory and records when each LTX file appeared."""

    replica: Path
    seen: dict[str, Observed] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        level0 = self.replica / "ltx" / "0"
        while not self.stop.is_set():
            try:
                names = os.listdir(level0)
            except FileNotFoundError:
                names = []
            now = time.monotonic()
            for name in names:
                if name.endswith(".ltx") and name not in self.seen:
                    try:
                        with open(level0 / name, "rb") as f:
                            head = f.read(LTX_HEADER.size)
                    except FileNotFoundError:
                        continue
                    fields = LTX_HEADER.unpack(head)
                    offset, size, salt1, salt2 = fields[8], fields[9], fields[10], fields[11]
                    self.seen[name] = Observed(now, (salt1 << 32) | salt2, offset + size)
            time.sleep(0.002)


def lags(commits: list[Commit], observed: list[Observed]) -> list[float]:
    generations: list[int] = []
    for c in commits:
        if not generations or generations[-1] != c.salt:
            generations.append(c.salt)
    gen = {salt: i for i, salt in enumerate(generations)}
    files = sorted(observed, key=lambda o: o.at)
    result = []
    for c in commits:
        for o in files:
            if o.at < c.at:
                continue
            g = gen.get(o.salt, -1)
            if (o.salt == c.salt and o.end >= c.end) or g > gen[c.salt]:
                result.append(o.at - c.at)
                break
    return result


def make_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
    return conn


def start(tool: list[str], db: Path, replica: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*tool, "replicate", str(db), f"file://{replica}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=go_env(),
    )


def stop(proc: subprocess.Popen[bytes]) -> ProcStats:
    stats = proc_stats(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return stats


def wait_for_replica(replica: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((replica / "ltx" / "0").glob("*.ltx")):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no replica files appeared in {replica}")


def lag_run(tool: list[str], rate: int, seconds: float, work: Path) -> tuple[float, float, float]:
    db, replica = work / "lag.db", work / "replica"
    conn = make_db(db)
    conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
    proc = start(tool, db, replica)
    wait_for_replica(replica)
    time.sleep(1.5)
    observer = Observer(replica)
    thread = threading.Thread(target=observer.run, daemon=True)
    thread.start()
    commits: list[Commit] = []
    interval = 1 / rate
    begin = time.monotonic()
    n = int(rate * seconds)
    for i in range(n):
        target = begin + i * interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        commits.append(Commit(time.monotonic(), wal_salt(db), os.stat(f"{db}-wal").st_size))
    time.sleep(3)
    observer.stop.set()
    thread.join()
    stats = stop(proc)
    conn.close()
    measured = lags(commits, list(observer.seen.values()))
    if len(measured) < len(commits) * 0.95:
        raise RuntimeError(f"only {len(measured)} of {len(commits)} commits seen on replica")
    q = statistics.quantiles(measured, n=100)
    return q[49] * 1000, q[98] * 1000, stats.cpu_seconds / n * 1000


def wal_volume_run(tool: list[str], megabytes: int, work: Path) -> tuple[float, float]:
    """CPU seconds per 100 MB of WAL and peak RSS while replicating bulk blob writes."""
    db, replica = work / "bulk.db", work / "replica"
    conn = make_db(db)
    proc = start(tool, db, replica)
    time.sleep(1.5)
    before = proc_stats(proc.pid).cpu_seconds
    blob = 64 * 1024
    for _ in range(megabytes * 1024 * 1024 // blob):
        conn.execute("INSERT INTO t (v) VALUES (randomblob(?))", (blob,))
    time.sleep(4)
    stats = stop(proc)
    conn.close()
    return (stats.cpu_seconds - before) / megabytes * 100, stats.peak_rss_mb


def restore_run(size_mb: int, work: Path) -> dict[str, float]:
    """Restore a large database from a file replica: ours, Go's, and a plain cp."""
    db = work / "big.db"
    conn = make_db(db)
    conn.execute("BEGIN")
    for _ in range(size_mb * 16):
        conn.execute("INSERT INTO t (v) VALUES (randomblob(65000))")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    results: dict[str, float] = {}
    started = time.monotonic()
    shutil.copyfile(db, work / "copy.db")
    results["cp"] = time.monotonic() - started
    for name, tool in (("ours", OURS), ("go", GO)):
        replica = work / f"replica-{name}"
        proc = start(tool, db, replica)
        wait_for_replica(replica, timeout=600)
        time.sleep(2)
        stop(proc)
        out = work / f"restored-{name}.db"
        started = time.monotonic()
        subprocess.run(
            [*tool, "restore", "-o", str(out), f"file://{replica}"],
            check=True,
            env=go_env(),
            stdout=subprocess.DEVNULL,
        )
        results[name] = time.monotonic() - started
        out.unlink()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, small sizes")
    parser.add_argument("--restore-mb", type=int, default=1024)
    args = parser.parse_args()
    seconds = 3 if args.quick else 10
    restore_mb = 64 if args.quick else args.restore_mb
    print("| measure | ours | Go | ratio (ours/Go) |\n|---|---|---|---|")
    for rate in (10, 100, 1000):
        row = {}
        for name, tool in (("ours", OURS), ("go", GO)):
            with tempfile.TemporaryDirectory() as tmp:
                row[name] = lag_run(tool, rate, seconds, Path(tmp))
        for i, label in enumerate(("lag p50 ms", "lag p99 ms", "CPU s / 1000 tx")):
            ours, go = row["ours"][i], row["go"][i]
            print(f"| {label} @ {rate} tx/s | {ours:.1f} | {go:.1f} | {ours / go:.2f} |")
        sys.stdout.flush()
    volume = {}
    for name, tool in (("ours", OURS), ("go", GO)):
        with tempfile.TemporaryDirectory() as tmp:
            volume[name] = wal_volume_run(tool, 32 if args.quick else 100, Path(tmp))
    for i, label in enumerate(("CPU s / 100 MB WAL", "peak RSS MB")):
        ours, go = volume["ours"][i], volume["go"][i]
        print(f"| {label} | {ours:.2f} | {go:.2f} | {ours / go:.2f} |")
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        times = restore_run(restore_mb, Path(tmp))
    print(
        f"| restore {restore_mb} MB s | {times['ours']:.2f} | {times['go']:.2f} "
        f"| {times['ours'] / times['go']:.2f} (cp: {times['cp']:.2f} s) |"
    )


if __name__ == "__main__":
    main()
