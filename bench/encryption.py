"""What encryption costs: replicate CPU and restore time, age-encrypted vs plain replicas.

Three parts, all on the file backend:

1. The layer alone: sealing and opening 64 MiB in age's 64 KiB chunks (MB/s), and
   4 KiB range reads per second through ``EncryptedReplicaClient`` and without it,
   over an in-memory replica.
2. ``litestream replicate`` of one database (a snapshot of ``--mb`` MiB of random rows,
   then ``--txns`` transactions of 64 KiB each, 10 ms apart) by Go 0.5.17 (plain, for
   reference), ours plain and ours with ``age:``; the replicator's CPU seconds (user +
   system, from ``wait4``) from start until it has uploaded the last transaction and
   exited on SIGTERM.
3. ``litestream restore`` of those replicas (``--repeat`` times each); every result is
   compared with the source database's rows.
4. The VFS over our plain and our encrypted replica (``open_replica``, default 10 MB
   page cache): ``--lookups`` point lookups of random rows, and a range scan of 1,000
   rows, each answer compared with the source.

Run: ``uv run python bench/encryption.py [--mb 256] [--txns 300] [--repeat 3] [--lookups 300]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from litestream_core.encryption.age import seal_header
from litestream_core.encryption.client import EncryptedReplicaClient
from litestream_core.encryption.keys import AgeKeys, Identity
from litestream_core.encryption.layout import CHUNK_SIZE
from litestream_core.testing.ltxgen import make_ltx_bytes
from litestream_core.testing.memory import MemoryReplicaClient

ROOT = Path(__file__).resolve().parent.parent
GO = Path(os.environ.get("LITESTREAM_GO_BIN", ROOT / ".peer" / "bin" / "litestream"))
OURS = ROOT / ".venv" / "bin" / "litestream"


# -- 1. the layer alone ---------------------------------------------------------------


async def layer_throughput(mb: int) -> dict[str, float]:
    """Sealing and opening 64 KiB chunks alone, and 4 KiB range reads through the layer
    and without it (both over an in-memory replica, so storage costs nothing)."""
    key = Identity.generate()
    data = random.Random(1).randbytes(mb * (1 << 20))
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    _, cipher = seal_header([key.recipient], 0)
    started = time.perf_counter()
    sealed = [cipher.seal(i, c, last=i == len(chunks) - 1) for i, c in enumerate(chunks)]
    seal = time.perf_counter() - started
    started = time.perf_counter()
    for i, c in enumerate(sealed):
        cipher.open(i, c, last=i == len(sealed) - 1)
    opened = time.perf_counter() - started

    ltx = make_ltx_bytes(1, 1, pages=1)[:100] + data[100:]
    plain = MemoryReplicaClient()
    sealing = EncryptedReplicaClient(MemoryReplicaClient(), AgeKeys((key.recipient,), (key,)))
    rates = {}
    for name, client in (("plain", plain), ("age", sealing)):
        await client.init()
        await client.write_ltx_file(0, 1, 1, ltx)
        rng = random.Random(2)
        reads = 2000
        started = time.perf_counter()
        for _ in range(reads):
            offset = rng.randrange(0, len(ltx) - 4096)
            stream = await client.open_ltx_file(0, 1, 1, offset=offset, size=4096)
            async with stream:
                assert await stream.readall() == ltx[offset : offset + 4096]
        rates[name] = reads / (time.perf_counter() - started)
    return {
        "seal, MB/s": mb * 1.048576 / seal,
        "open, MB/s": mb * 1.048576 / opened,
        "4 KiB range reads/s, plain": rates["plain"],
        "4 KiB range reads/s, age": rates["age"],
    }


# -- 2. replicate CPU -------------------------------------------------------------------


def build_database(path: Path, mb: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    for _ in range(mb):
        conn.execute("INSERT INTO t (v) SELECT randomblob(16384) FROM (WITH RECURSIVE "
                     "n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64) "
                     "SELECT i FROM n)")  # fmt: skip
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def write_config(path: Path, db: Path, replica: Path, age: list[str]) -> Path:
    lines = ["dbs:", f"  - path: {db}", "    replica:", f"      url: file://{replica}"]
    path.write_text("\n".join(lines + [f"      {line}" for line in age]) + "\n")
    return path


def newest_txid(replica: Path) -> int:
    top = 0
    for level in (replica / "ltx").glob("*"):
        for f in level.glob("*.ltx"):
            top = max(top, int(f.name.split("-")[1].split(".")[0], 16))
    return top


def replicate_cpu(
    tool: Path, config: Path, db: Path, replica: Path | list[Path], txns: int
) -> float:
    """CPU seconds of one replicator from start to exit, the app writing meanwhile
    (until every replica, when there are several, holds the last transaction)."""
    replicas = replica if isinstance(replica, list) else [replica]
    proc = subprocess.Popen(
        [str(tool), "replicate", "-config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while min(newest_txid(r) for r in replicas) == 0:
        assert time.monotonic() < deadline and proc.poll() is None, "no snapshot uploaded"
        time.sleep(0.05)
    conn = sqlite3.connect(db, isolation_level=None)
    for _ in range(txns):
        conn.execute("INSERT INTO t (v) VALUES (randomblob(65536))")
        time.sleep(0.01)
    conn.close()
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 3:  # caught up: no new file for 3 s
        top = min(newest_txid(r) for r in replicas)
        if top != last:
            last, since = top, time.monotonic()
        assert time.monotonic() < deadline, "replication did not catch up"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"{tool} exited with {status}"
    return usage.ru_utime + usage.ru_stime


# -- 3. restore ------------------------------------------------------------------------


def rows_digest(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        for row in conn.execute("SELECT id, v FROM t ORDER BY id"):
            digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def timed_restore(tool: Path, source: list[str], out: Path, expected: str) -> float:
    for stale in (out, out.with_name(out.name + "-wal"), out.with_name(out.name + "-shm")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(tool), "restore", "-o", str(out), *source], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{tool} restore failed: {proc.stderr.strip()}")
    if rows_digest(out) != expected:
        raise SystemExit(f"{tool} restored other rows from {source}")
    return elapsed


# -- 4. the VFS ------------------------------------------------------------------------


def vfs_reads(replica: Path, key: Path | None, db: Path, lookups: int) -> dict[str, float]:
    """Seconds for random point lookups and one 1,000-row range scan through the VFS."""
    from litestream_core.vfs import open_replica

    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    top = source.execute("SELECT max(id) FROM t").fetchone()[0]
    ids = random.Random(3).sample(range(1, top + 1), min(lookups, top))
    options = {"age": {"identities": [str(key)]}} if key else {}
    conn = open_replica(f"file://{replica}", poll_interval=0, options=options)
    try:
        query = "SELECT hex(substr(v, 1, 16)) FROM t WHERE id = ?"
        started = time.perf_counter()
        for row_id in ids:
            got = conn.execute(query, (row_id,)).fetchall()
            if got != source.execute(query, (row_id,)).fetchall():
                raise SystemExit(f"VFS read another row {row_id} from {replica}")
        point = time.perf_counter() - started
        start = top // 3
        scan = "SELECT sum(instr(v, x'00ff')) FROM t WHERE id BETWEEN ? AND ?"  # every page
        started = time.perf_counter()
        got = conn.execute(scan, (start, start + 999)).fetchall()
        ranged = time.perf_counter() - started
        if got != source.execute(scan, (start, start + 999)).fetchall():
            raise SystemExit(f"VFS scanned other rows from {replica}")
    finally:
        conn.close()
        source.close()
    return {"lookups/s": len(ids) / point, "scan s": ranged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--txns", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    print("\nlayer alone (64 MiB of chunks; range reads over an in-memory replica):")
    for name, value in asyncio.run(layer_throughput(64)).items():
        print(f"  {name}: {value:,.0f}")
    with tempfile.TemporaryDirectory(prefix="bench-encryption-") as tmp:
        work = Path(tmp)
        key = work / "key.txt"
        made = subprocess.run(["age-keygen", "-o", str(key)], capture_output=True, text=True)
        public = made.stderr.split("Public key: ")[1].strip()
        age = ["age:", f"  recipients: [{public}]", f"  identities: [{key}]"]
        build_database(work / "source.db", args.mb)
        cases = [("Go 0.5.17, plain", GO, []), ("ours, plain", OURS, []), ("ours, age", OURS, age)]
        cpu: dict[str, float] = {}
        restores: dict[str, list[float]] = {}
        for name, tool, block in cases:
            case = work / name.replace(" ", "").replace(",", "-")
            case.mkdir()
            db = case / "app.db"
            db.write_bytes((work / "source.db").read_bytes())
            config = write_config(case / "c.yml", db, case / "replica", block)
            cpu[name] = replicate_cpu(tool, config, db, case / "replica", args.txns)
            expected = rows_digest(db)
            source = ["-config", str(config), str(db)]
            restores[name] = [
                timed_restore(tool, source, case / "out.db", expected) for _ in range(args.repeat)
            ]
        print(f"\ndatabase: {args.mb} MiB of random rows, then {args.txns} x 64 KiB transactions")
        print("| replicator | replicate CPU s | restore s (median) | restore min-max s |")
        print("|---|---|---|---|")
        for name, _, _ in cases:
            times = restores[name]
            print(
                f"| {name} | {cpu[name]:.2f} | {statistics.median(times):.2f} | "
                f"{min(times):.2f}-{max(times):.2f} |"
            )
        plain, sealed = "ours, plain", "ours, age"
        print(
            f"\nage vs plain (ours): replicate CPU x{cpu[sealed] / cpu[plain]:.2f}, restore "
            f"x{statistics.median(restores[sealed]) / statistics.median(restores[plain]):.2f}"
        )
        print(f"\nVFS ({args.lookups} point lookups of random rows, one 1,000-row range scan):")
        print("| replica | lookups/s | range scan s |")
        print("|---|---|---|")
        for name, identity in ((plain, None), (sealed, key)):
            case = work / name.replace(" ", "").replace(",", "-")
            reads = vfs_reads(case / "replica", identity, case / "app.db", args.lookups)
            print(f"| {name} | {reads['lookups/s']:,.0f} | {reads['scan s']:.2f} |")


if __name__ == "__main__":
    main()
