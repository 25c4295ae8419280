"""zstd against lz4 LTX pages: replica size, replicate CPU, restore time (and Go's lz4).

    uv run python bench/compression.py [--mb 48] [--repeat 3]

Builds an application-like SQLite database of about ``--mb`` MB (users with e-mail and
JSON profiles, an event log of short text payloads, an index on each, and a tenth of
the rows carrying an incompressible blob), then for each codec:

- codec alone: a snapshot of every page encoded and decoded in process (MB/s of pages);
- replicate: ``litestream replicate -once -force-snapshot`` to a fresh file replica
  (the L0 snapshot plus the L9 snapshot), then 200 small transactions and ``-once``
  again; the CPU seconds of each process (user + system, from ``wait4``) and the bytes
  the replica holds afterwards;
- restore: ``litestream restore`` of that replica, median wall time of ``--repeat``,
  the result compared with the source row for row.

Go 0.5.17 (``.peer/bin/litestream``) replicates and restores the same database with its
lz4 pages for reference; it cannot read a zstd replica (checked at the end).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Decoder, Encoder, Header
from litestream_core.plugins import get_plugin_manager, page_codecs

ROOT = Path(__file__).resolve().parent.parent
OURS = Path(sys.executable).with_name("litestream")
GO = ROOT / ".peer" / "bin" / "litestream"


def make_db(path: Path, megabytes: int) -> None:
    rnd = random.Random(7)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, "
                "created TEXT, profile TEXT, avatar BLOB)")  # fmt: skip
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, kind TEXT, "
                "at TEXT, payload TEXT)")  # fmt: skip
    con.execute("CREATE INDEX users_email ON users (email)")
    con.execute("CREATE INDEX events_user ON events (user_id, at)")
    first = ["ana", "ben", "chen", "dora", "emil", "fatima", "gus", "hana", "ivan", "jo"]
    cities = ["Lisbon", "Osaka", "Lagos", "Quito", "Oslo", "Pune", "Austin", "Lyon"]
    kinds = ["login", "logout", "purchase", "view", "search", "share"]
    users = megabytes * 1024 * 1024 // 900
    for start in range(0, users, 1000):
        batch = []
        for i in range(start, min(users, start + 1000)):
            name = f"{rnd.choice(first)} {rnd.choice(first).title()}son"
            profile = json.dumps({
                "city": rnd.choice(cities), "plan": rnd.choice(["free", "pro", "team"]),
                "tags": rnd.sample(kinds, 3), "score": rnd.randint(0, 10_000),
                "bio": " ".join(rnd.choice(first) for _ in range(12)),
            })  # fmt: skip
            avatar = os.urandom(1500) if i % 10 == 0 else None
            created = f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T10:00:00Z"
            batch.append((i, f"{name.replace(' ', '.')}{i}@example.com", name, created,
                          profile, avatar))  # fmt: skip
        con.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", batch)
        con.executemany(
            "INSERT INTO events (user_id, kind, at, payload) VALUES (?, ?, ?, ?)",
            [(u[0], rnd.choice(kinds), u[3], f"item={rnd.randint(1, 500)}&ref=campaign-"
              f"{rnd.randint(1, 40)}&ua=Mozilla/5.0") for u in batch for _ in range(4)],
        )  # fmt: skip
        con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def small_writes(path: Path, n: int) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    for i in range(n):
        con.execute("INSERT INTO events (user_id, kind, at, payload) VALUES (?, 'view', "
                    "'2026-12-01T00:00:00Z', ?)", (i, f"bench write {i}"))  # fmt: skip
    con.close()


def dump(path: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return con.execute("SELECT * FROM users UNION ALL SELECT id, user_id, kind, at, "
                           "payload, NULL FROM events").fetchall()  # fmt: skip
    finally:
        con.close()


def cpu_run(argv: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process, which must succeed."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{output}")
    return usage.ru_utime + usage.ru_stime, wall


def codec_alone(db: Path, codec_name: str) -> tuple[float, float, int]:
    """Encode and decode MB/s of a snapshot of ``db`` in process, and its size."""
    codecs = page_codecs(get_plugin_manager(only={"zstd"}), codec_name)
    page_size = 4096
    data = db.read_bytes()
    commit = len(data) // page_size
    header = Header(page_size=page_size, commit=commit, min_txid=1, max_txid=1,
                    flags=HEADER_FLAG_NO_CHECKSUM)  # fmt: skip
    lock = 0x40000000 // page_size + 1
    out = io.BytesIO()
    started = time.perf_counter()
    enc = Encoder(out, header, codecs.write)
    for pgno in range(1, commit + 1):
        if pgno != lock:
            enc.write_page(pgno, data[(pgno - 1) * page_size : pgno * page_size])
    enc.finish(0)
    encode = time.perf_counter() - started
    started = time.perf_counter()
    for _ in Decoder(io.BytesIO(out.getvalue()), codecs).pages():
        pass
    decode = time.perf_counter() - started
    mb = len(data) / 1e6
    return mb / encode, mb / decode, len(out.getvalue())


def replica_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.ltx"))


def run_case(
    work: Path, source: Path, label: str, tool: Path, codec: str, repeat: int
) -> dict[str, float]:
    case = work / f"{label}-{codec}"
    case.mkdir()
    db = case / "app.db"
    shutil.copyfile(source, db)
    replica = case / "replica"
    config = case / "litestream.yml"
    extra = f"      compression: {codec}\n" if tool == OURS else ""
    config.write_text(f"dbs:\n  - path: {db}\n    replica:\n      url: file://{replica}\n"
                      f"{extra}")  # fmt: skip
    once = [str(tool), "replicate", "-config", str(config), "-once"]
    snap_cpu, _ = cpu_run([*once, "-force-snapshot"])
    small_writes(db, 200)
    incr_cpu, _ = cpu_run(once)
    expected = dump(db)
    times = []
    for i in range(repeat):
        out = case / f"restored-{i}.db"
        _, wall = cpu_run([str(tool), "restore", "-o", str(out), f"file://{replica}"])
        times.append(wall)
        assert dump(out) == expected, f"{case.name}: restore {i} differs"
    return {
        "snapshot_cpu": snap_cpu,
        "incremental_cpu": incr_cpu,
        "replica_mb": replica_bytes(replica) / 1e6,
        "restore_s": statistics.median(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-compression-") as tmp:
        work = Path(tmp)
        source = work / "source.db"
        make_db(source, args.mb)
        size = source.stat().st_size
        print(f"database: {size / 1e6:.1f} MB, {size // 4096} pages; "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        print("\ncodec alone (in process): encode MB/s, decode+verify MB/s, snapshot MB")
        for codec in ("lz4", "zstd"):
            enc, dec, nbytes = codec_alone(source, codec)
            print(f"  {codec:5s} {enc:8.0f} {dec:8.0f} {nbytes / 1e6:8.1f}")
        print("\nreplicate -once -force-snapshot CPU s, then 200 writes and -once CPU s, "
              "replica MB, restore s (median)")  # fmt: skip
        rows = [("ours", OURS, "lz4"), ("ours", OURS, "zstd"), ("Go", GO, "lz4")]
        results = {}
        for label, tool, codec in rows:
            r = results[(label, codec)] = run_case(work, source, label, tool, codec, args.repeat)
            print(f"  {label:4s} {codec:5s} {r['snapshot_cpu']:7.2f} {r['incremental_cpu']:7.2f} "
                  f"{r['replica_mb']:8.1f} {r['restore_s']:7.2f}")  # fmt: skip
        lz4, zstd = results[("ours", "lz4")], results[("ours", "zstd")]
        print(f"\nzstd/lz4 (ours): replica size {zstd['replica_mb'] / lz4['replica_mb']:.2f}, "
              f"snapshot CPU {zstd['snapshot_cpu'] / lz4['snapshot_cpu']:.2f}, "
              f"restore {zstd['restore_s'] / lz4['restore_s']:.2f}")  # fmt: skip
        go = subprocess.run(
            [str(GO), "restore", "-o", str(work / "go-of-zstd.db"),
             f"file://{work / 'ours-zstd' / 'replica'}"],
            capture_output=True, text=True,
        )  # fmt: skip
        print(f"Go restore of the zstd replica: exit {go.returncode}: {go.stderr.strip()}")


if __name__ == "__main__":
    main()
