"""Queries straight from a replica: our VFS versus Go's ``litestream-vfs``, and a restore.

Builds a ~1 GiB database (rows of 1,000 bytes, half random, half zeros), replicates it
once with our ``replicate -once`` to a file replica and to S3 (moto_server), then, each
in a fresh process (cold cache, nothing warmed but module imports):

- a point lookup (``WHERE id = ?``) and a 1,000-row range scan through our VFS
  (``litestream_core.vfs.open_replica``) and through Go's VFS extension, the
  ``litestream-vfs`` 0.5.17 wheel installed in its own target directory and loaded into
  APSW's SQLite as its README says for other bindings (``loadable_path()``);
- a full ``litestream restore`` with ours and with Go 0.5.17.

Time is wall time of open + query (the open fetches the page index). Bytes read are the
bytes the process read from the replica: for S3, what moto sent through a counting
proxy in front of it; for the file replica, the process's ``rchar`` (/proc/self/io)
over the open and the query.

Run: ``uv run python bench/vfs.py [--gib 1] [--repeat 3] [--stores file,s3]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GO = Path(os.environ.get("LITESTREAM_GO_BIN", ROOT / ".peer" / "bin" / "litestream"))
OURS = ROOT / ".venv" / "bin" / "litestream"
GO_VFS = ROOT / ".vfs-go"
KEY_ID, SECRET = "AKIABENCHKEY00000000", "bench-secret-0000"
ROW = 1000

# Runs in a fresh interpreter; prints one JSON line.
PROBE = r"""
import json, os, sys, time
import apsw
kind, url, sql = sys.argv[1:4]

def rchar():
    with open("/proc/self/io") as f:
        return int(next(l for l in f if l.startswith("rchar")).split()[1])

if kind == "ours":
    from litestream_core.plugins import make_replica_client
    from litestream_core.vfs import open_replica
    make_replica_client(url)  # the backend's SDK imported before the clock starts
    r0, t0 = rchar(), time.perf_counter()
    conn = open_replica(url, poll_interval=0)
else:
    sys.path.insert(0, os.environ["GO_VFS"])
    import litestream_vfs
    loader = apsw.Connection(":memory:")
    loader.enable_load_extension(True)
    loader.load_extension(litestream_vfs.loadable_path())
    r0, t0 = rchar(), time.perf_counter()
    conn = apsw.Connection("file:bench.db?vfs=litestream",
                           flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
t1 = time.perf_counter()
rows = list(conn.execute(sql))
t2 = time.perf_counter()
print(json.dumps({"open": t1 - t0, "query": t2 - t1, "rchar": rchar() - r0, "rows": rows}))
"""


class CountingProxy:
    """127.0.0.1:port -> target; counts the bytes the server sends back."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.received = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._sock.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                if count:
                    with self._lock:
                        self.received += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def build_database(path: Path, gib: float) -> int:
    rows = int(gib * (1 << 30) / (ROW + 40))
    if path.exists():
        return int(sqlite3.connect(path).execute("SELECT max(id) FROM t").fetchone()[0])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    batch = 100_000
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        conn.execute(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) "
            "INSERT INTO t (body) SELECT randomblob(?) || zeroblob(?) FROM s",
            (n, ROW // 2, ROW // 2),
        )
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return rows


def replicate_once(db: Path, config: Path, env: dict[str, str]) -> None:
    subprocess.run([str(OURS), "replicate", "-once", "-config", str(config)], check=True,
                   env=env, capture_output=True, timeout=3600)  # fmt: skip


def probe(kind: str, url: str, sql: str, env: dict[str, str]) -> dict[str, Any]:
    env = {**env, "LITESTREAM_REPLICA_URL": url}  # Go reads it once, as the process starts
    out = subprocess.run([sys.executable, "-c", PROBE, kind, url, sql], env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"{kind} probe failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def timed_restore(tool: Path, url: str, out: Path, env: dict[str, str]) -> float:
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run([str(tool), "restore", "-o", str(out), url], check=True, env=env,
                   capture_output=True, timeout=3600)  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", default="file,s3")
    parser.add_argument("--work", type=Path, default=Path("/tmp/litestream-bench-vfs"))
    args = parser.parse_args()
    if not (GO_VFS / "litestream_vfs").is_dir():
        subprocess.run(["uv", "pip", "install", "--quiet", "--target", str(GO_VFS),
                        "litestream-vfs==0.5.17"], check=True)  # fmt: skip
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    db = work / "src.db"
    t = time.perf_counter()
    rows = build_database(db, args.gib)
    size = db.stat().st_size
    print(f"database: {size / (1 << 30):.2f} GiB, {rows} rows ({time.perf_counter() - t:.0f} s)")
    rng = random.Random(7)
    queries = {
        "point lookup": lambda: f"SELECT length(body) FROM t WHERE id = {rng.randint(1, rows)}",
        "1,000-row range scan": lambda: (
            f"SELECT count(*), sum(length(body)) FROM t WHERE id BETWEEN "
            f"{(a := rng.randint(1, rows - 1000))} AND {a + 999}"
        ),
    }
    env = {**os.environ, "GO_VFS": str(GO_VFS)}
    env.pop("AWS_CA_BUNDLE", None)
    results: list[tuple[str, str, str, list[dict[str, Any]]]] = []
    moto = None
    try:
        for store in args.stores.split(","):
            if store == "file":
                replica = work / "replica"
                url = f"file://{replica}"
                cfg = work / "file.yml"
                cfg.write_text(f"dbs:\n  - path: {db}\n    replica:\n      url: {url}\n")
                if not replica.exists():
                    replicate_once(db, cfg, env)
                proxy = None
            else:
                moto_port = _free_port()
                moto = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                _wait_http(moto_port)
                proxy = CountingProxy(moto_port)
                endpoint = f"http://127.0.0.1:{proxy.port}"
                env.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                           AWS_REGION="us-east-1")  # fmt: skip
                _make_bucket(endpoint)
                url = f"s3://bench/db?endpoint={endpoint}&region=us-east-1&forcePathStyle=true"
                cfg = work / "s3.yml"
                cfg.write_text(
                    f"dbs:\n  - path: {db}\n    replica:\n      type: s3\n      bucket: bench\n"
                    f"      path: db\n      endpoint: {endpoint}\n      region: us-east-1\n"
                )
                t = time.perf_counter()
                replicate_once(db, cfg, env)
                print(f"uploaded to moto in {time.perf_counter() - t:.0f} s")
            for name, make_sql in queries.items():
                for kind in ("ours", "go"):
                    runs = []
                    for _ in range(args.repeat):
                        before = proxy.received if proxy else 0
                        got = probe(kind, url, make_sql(), env)
                        if proxy:
                            got["bytes"] = proxy.received - before
                        else:
                            got["bytes"] = got["rchar"]
                        runs.append(got)
                    results.append((store, name, kind, runs))
            for kind, tool in (("ours", OURS), ("go", GO)):
                runs = []
                for _ in range(args.repeat):
                    before = proxy.received if proxy else 0
                    seconds = timed_restore(tool, url, work / f"restored-{kind}.db", env)
                    moved = proxy.received - before if proxy else _replica_bytes(work)
                    runs.append({"open": 0.0, "query": seconds, "bytes": moved})
                results.append((store, "full restore", kind, runs))
            if moto is not None:
                moto.terminate()
                moto.wait()
                moto = None
    finally:
        if moto is not None:
            moto.terminate()
    print(f"\nmachine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}; "
          f"median of {args.repeat} fresh processes")  # fmt: skip
    print("| replica | operation | tool | time s (open + query) | bytes read | of the db |")
    print("|---|---|---|---|---|---|")
    for store, name, kind, runs in results:
        total = statistics.median(r["open"] + r["query"] for r in runs)
        moved = statistics.median(r["bytes"] for r in runs)
        label = {"ours": "ours (litestream_core.vfs)", "go": "Go litestream-vfs 0.5.17"}[kind]
        if name == "full restore":
            label = {"ours": "ours", "go": "Go 0.5.17"}[kind]
        print(f"| {store} | {name} | {label} | {total:.3f} | {_human(moved)} | "
              f"{moved / size:.4%} |")  # fmt: skip


def _replica_bytes(work: Path) -> int:
    return sum(p.stat().st_size for p in (work / "replica").rglob("*.ltx"))


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(port: int) -> None:
    import urllib.request

    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def _make_bucket(endpoint: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET).create_bucket(
        Bucket="bench")  # fmt: skip


if __name__ == "__main__":
    main()
