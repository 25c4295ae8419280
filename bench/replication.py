"""Replication side by side: our `litestream` against Go Litestream 0.5.17, same work.

Measures, for each tool in the same run:
- commit-to-replica lag (p50/p99) at 10, 100 and 1000 transactions per second;
- replicator CPU seconds per 1,000 transactions and per 100 MB of WAL;
- peak RSS of the replicator;
- restore time of a large database, against Go's restore and against `cp`.

Both tools run as `litestream replicate DB file://DIR` with their defaults (monitor and
sync interval 1 s). The application is the stdlib sqlite3 module with
``synchronous=NORMAL`` (the usual WAL setting; FULL would fsync every commit and cap the
rate below 1000 tx/s on this disk).

Lag is measured without trusting either tool's logs: after each commit the writer
records the WAL generation (salts) and the offset just past that commit's frames; an
observer polls the file replica's L0 directory and reads each new file's LTX header
(WAL offset, size and salts). A commit is on the replica once a file from the same WAL
generation ends at or past its frames, or a file from a later generation exists.

Run: ``uv run python bench/replication.py [--quick]``; prints a Markdown table for
bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = [str(ROOT / ".venv" / "bin" / "litestream")]
GO = [os.environ.get("LITESTREAM_GO_BIN", str(ROOT / ".peer" / "bin" / "litestream"))]
TOOLS = (("ours", OURS), ("go", GO))
LTX_HEADER = struct.Struct(">4sIIIQQqQqqII")
WAL_HEADER, FRAME_HEADER, PAGE = 32, 24, 4096
FRAME = FRAME_HEADER + PAGE


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)  # breaks the Go binary's S3 client; harmless here
    return env


@dataclass
class ProcStats:
    cpu_seconds: float
    peak_rss_mb: float


def proc_stats(pid: int) -> ProcStats:
    """CPU time (user + system) and peak RSS of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return ProcStats(cpu, hwm)


@dataclass(frozen=True)
class Position:
    """A point in the WAL: its generation (both salts) and a byte offset."""

    salt: int
    end: int


class WalTracker:
    """Follows the application's WAL commit by commit, reading only the new frames.

    The WAL file keeps its size when SQLite restarts it, so its size says nothing about
    where the last commit ended; frames are read from the last known commit while their
    salts match the header, and a new header salt means a new generation from offset 32.
    """

    def __init__(self, db: Path) -> None:
        self.path = f"{db}-wal"
        self.salt = -1
        self.end = WAL_HEADER
        self.wal_bytes = 0  # committed frame bytes seen, across generations

    def position(self) -> Position:
        with open(self.path, "rb") as f:
            header = f.read(WAL_HEADER)
            salt = struct.unpack(">Q", header[16:24])[0]
            if salt != self.salt:
                self.salt, self.end = salt, WAL_HEADER
            f.seek(self.end)
            offset = self.end
            while len(head := f.read(FRAME_HEADER)) == FRAME_HEADER:
                if struct.unpack(">Q", head[8:16])[0] != salt:
                    break
                offset += FRAME
                if struct.unpack(">I", head[4:8])[0]:  # commit frame
                    self.wal_bytes += offset - self.end
                    self.end = offset
                f.seek(offset)
        return Position(self.salt, self.end)


@dataclass
class Observer:
    """Polls a file replica's L0 directory and records when each LTX file appeared."""

    replica: Path
    seen: dict[str, tuple[float, Position]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        level0 = self.replica / "ltx" / "0"
        while not self.stop.wait(0.002):
            try:
                names = os.listdir(level0)
            except FileNotFoundError:
                continue
            now = time.monotonic()
            for name in names:
                if not name.endswith(".ltx") or name in self.seen:
                    continue
                try:
                    with open(level0 / name, "rb") as f:
                        fields = LTX_HEADER.unpack(f.read(LTX_HEADER.size))
                except (FileNotFoundError, struct.error):
                    continue  # pruned or still being written: the next poll decides
                salt = (fields[10] << 32) | fields[11]
                self.seen[name] = (now, Position(salt, fields[8] + fields[9]))

    def covers(self, pos: Position, generations: dict[int, int]) -> Callable[[], bool]:
        def check() -> bool:
            return any(
                (p.salt == pos.salt and p.end >= pos.end)
                or generations.get(p.salt, -1) > generations[pos.salt]
                for _, p in list(self.seen.values())
            )

        return check


def generation_order(commits: list[tuple[float, Position]]) -> dict[int, int]:
    order: dict[int, int] = {}
    for _, pos in commits:
        order.setdefault(pos.salt, len(order))
    return order


def lags(
    commits: list[tuple[float, Position]], observed: list[tuple[float, Position]]
) -> list[float]:
    """Seconds from each commit to the first replica file holding it.

    Files appear in WAL order, so a single pass over both sorted lists suffices: the
    first file covering commit i is never before the first file covering commit i-1.
    """
    gen = generation_order(commits)
    files = sorted(observed, key=lambda o: (o[0], gen.get(o[1].salt, -1), o[1].end))
    result, j = [], 0
    for at, pos in commits:
        while j < len(files):
            p = files[j][1]
            if (p.salt == pos.salt and p.end >= pos.end) or gen.get(p.salt, -1) > gen[pos.salt]:
                break
            j += 1
        if j == len(files):
            break
        result.append(max(files[j][0] - at, 0.0))
    return result


def make_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
    return conn


def start(tool: list[str], db: Path, replica: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*tool, "replicate", str(db), f"file://{replica}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=go_env(),
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Session:
    """One replicator on one database, with the WAL tracker and the replica observer."""

    def __init__(self, tool: list[str], work: Path, name: str) -> None:
        self.db, self.replica = work / f"{name}.db", work / f"{name}-replica"
        self.conn = make_db(self.db)
        self.conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")
        self.tracker = WalTracker(self.db)
        self.proc = start(tool, self.db, self.replica)
        self.observer = Observer(self.replica)
        self.thread = threading.Thread(target=self.observer.run, daemon=True)
        self.thread.start()
        self.commits: list[tuple[float, Position]] = []
        self.commit(lambda: None)  # the replicator's first sync must hold it
        self.settle()

    def commit(self, write: Callable[[], None]) -> None:
        write()
        at = time.monotonic()
        self.commits.append((at, self.tracker.position()))

    def settle(self, timeout: float = 120) -> None:
        """Wait until the replica holds the last commit."""
        gen = generation_order(self.commits)
        wait_until(self.observer.covers(self.commits[-1][1], gen), timeout, "the replica")

    def cpu(self) -> ProcStats:
        return proc_stats(self.proc.pid)

    def close(self) -> ProcStats:
        stats = self.cpu()
        self.observer.stop.set()
        self.thread.join()
        stop(self.proc)
        self.conn.close()
        return stats


@dataclass
class LagResult:
    p50_ms: float
    p99_ms: float
    cpu_per_1000_tx: float
    achieved_rate: float
    files_per_second: float


def lag_run(tool: list[str], rate: int, seconds: float, work: Path) -> LagResult:
    s = Session(tool, work, f"lag{rate}")
    before = s.cpu().cpu_seconds
    files_before = len(s.observer.seen)
    first = len(s.commits)
    interval, n = 1 / rate, int(rate * seconds)
    begin = time.monotonic()
    for i in range(n):
        delay = begin + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        s.commit(lambda: s.conn.execute("INSERT INTO t (v) VALUES (randomblob(100))"))
    elapsed = time.monotonic() - begin + interval  # n commits span n intervals
    s.settle()
    cpu = s.cpu().cpu_seconds - before
    files = len(s.observer.seen) - files_before
    s.close()
    measured = lags(s.commits[first:], [v for v in s.observer.seen.values()])
    if len(measured) < n:
        raise RuntimeError(f"only {len(measured)} of {n} commits seen on the replica")
    q = statistics.quantiles(measured, n=100)
    return LagResult(q[49] * 1000, q[98] * 1000, cpu / n * 1000, n / elapsed, files / elapsed)


def wal_volume_run(tool: list[str], megabytes: int, work: Path) -> tuple[float, float, float]:
    """CPU seconds per 100 MB of WAL, peak RSS and WAL MB, replicating bulk blob writes."""
    s = Session(tool, work, "bulk")
    before = s.cpu().cpu_seconds
    wal_before = s.tracker.wal_bytes
    blob = 64 * 1024
    for _ in range(megabytes * 1024 * 1024 // blob):
        s.commit(lambda: s.conn.execute("INSERT INTO t (v) VALUES (randomblob(?))", (blob,)))
    s.settle()
    stats = s.cpu()
    s.close()
    wal_mb = (s.tracker.wal_bytes - wal_before) / 1e6
    return (stats.cpu_seconds - before) / wal_mb * 100, stats.peak_rss_mb, wal_mb


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def build_large(db: Path, size_mb: int) -> None:
    """Rows of 1 MiB, half random and half zeros, written once (no journal), then WAL."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO t (v) VALUES (randomblob(524288) || zeroblob(524288))", [()] * size_mb
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(
        argv, check=True, env=go_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return time.monotonic() - started


def restore_run(size_mb: int, repeat: int, work: Path) -> dict[str, float]:
    """Median restore time of each tool from each tool's replica of one large database,
    every result checked byte for byte against the source, and the same for `cp`."""
    db = work / "big.db"
    build_large(db, size_mb)
    expected: dict[str, str] = {}
    for name, tool in TOOLS:  # each tool snapshots it (and bumps _litestream_seq) in turn
        replica = work / f"replica-{name}"
        proc = start(tool, db, replica)
        observer = Observer(replica)
        thread = threading.Thread(target=observer.run, daemon=True)
        thread.start()
        wait_until(Path(f"{db}-wal").exists, 60, f"{name} to open the database")
        tracker = WalTracker(db)
        while True:  # until the replica holds whatever the tool itself wrote to the WAL
            pos = tracker.position()
            wait_until(observer.covers(pos, {pos.salt: 0}), 900, f"{name} snapshot")
            if tracker.position() == pos:
                break
        observer.stop.set()
        thread.join()
        stop(proc)
        shutil.rmtree(work / ".big.db-litestream", ignore_errors=True)
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        expected[name] = digest(db)
    out = work / "out.db"
    results: dict[str, float] = {}
    results["cp"] = statistics.median(timed(["cp", str(db), str(out)]) for _ in range(repeat))
    out.unlink()
    for source, _ in TOOLS:
        for name, tool in TOOLS:
            times = []
            for _ in range(repeat):
                times.append(
                    timed(
                        [*tool, "restore", "-o", str(out), f"file://{work / f'replica-{source}'}"]
                    )
                )
                if digest(out) != expected[source]:
                    raise RuntimeError(f"{name} restore of the {source} replica differs")
                out.unlink()
            results[f"{name}<{source}"] = statistics.median(times)
    return results


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor())  # fmt: skip
    load = os.getloadavg()
    return f"nproc={os.cpu_count()}, CPU {model!r}, load average at start {load[0]:.2f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, small sizes")
    parser.add_argument("--seconds", type=float, default=10, help="length of each lag run")
    parser.add_argument("--wal-mb", type=int, default=100)
    parser.add_argument("--restore-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="restores per tool (median)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.wal_mb, args.restore_mb, args.repeat = 2, 16, 64, 1
    print(f"Machine: {machine()}\n")
    print("| measure | ours | Go 0.5.17 | ours / Go |\n|---|---|---|---|", flush=True)
    for rate in (10, 100, 1000):
        row = {}
        for name, tool in TOOLS:
            with tempfile.TemporaryDirectory() as tmp:
                row[name] = lag_run(tool, rate, args.seconds, Path(tmp))
        o, g = row["ours"], row["go"]
        for label, a, b in (
            ("lag p50 ms", o.p50_ms, g.p50_ms),
            ("lag p99 ms", o.p99_ms, g.p99_ms),
            ("CPU s / 1,000 tx", o.cpu_per_1000_tx, g.cpu_per_1000_tx),
        ):
            print(f"| {label} @ {rate} tx/s | {a:.3f} | {b:.3f} | {ratio(a, b)} |")
        print(
            f"| replica L0 files / s @ {rate} tx/s | {o.files_per_second:.1f} "
            f"| {g.files_per_second:.1f} | {ratio(o.files_per_second, g.files_per_second)} |"
        )
        print(f"| achieved rate @ {rate} tx/s | {o.achieved_rate:.0f} | {g.achieved_rate:.0f} | |",
              flush=True)  # fmt: skip
    volume = {}
    for name, tool in TOOLS:
        with tempfile.TemporaryDirectory() as tmp:
            volume[name] = wal_volume_run(tool, args.wal_mb, Path(tmp))
    o, g = volume["ours"], volume["go"]
    print(f"| CPU s / 100 MB WAL ({o[2]:.0f} MB written) | {o[0]:.2f} | {g[0]:.2f} "
          f"| {ratio(o[0], g[0])} |")  # fmt: skip
    print(f"| peak RSS MB (bulk run) | {o[1]:.0f} | {g[1]:.0f} | {ratio(o[1], g[1])} |", flush=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        t = restore_run(args.restore_mb, args.repeat, Path(tmp))
    for source in ("ours", "go"):
        a, b = t[f"ours<{source}"], t[f"go<{source}"]
        label = f"restore {args.restore_mb} MB s, {source} replica"
        print(f"| {label} | {a:.2f} | {b:.2f} | {ratio(a, b)} |")
    print(f"| `cp` of the same {args.restore_mb} MB database, s | {t['cp']:.2f} | | |")


if __name__ == "__main__":
    main()
