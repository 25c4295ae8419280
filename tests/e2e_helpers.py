"""Shared pieces of the end-to-end tests: an application writer, configs, processes."""

from __future__ import annotations

import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from litestream_core.client import ReplicaClient
from litestream_core.ltx import Encoder, Header, database_checksum
from litestream_core.testing.memory import MemoryReplicaClient

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
                if kind < 0.65:
                    # Mostly small rows; some blobs spanning many overflow pages.
                    size = self.rng.randint(1, 200) if kind < 0.5 else self.rng.randint(5000, 40000)
                    blob = self.rng.randbytes(size)
                    self.conn.execute("INSERT INTO t (v, n) VALUES (?, ?)", (blob, self.count))
                elif kind < 0.85:
                    self.conn.execute("UPDATE t SET n = n + 1, v = ? WHERE id % 7 = ?",
                                      (self.rng.randbytes(50), self.count % 7))  # fmt: skip
                else:
                    self.conn.execute(
                        "DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 3)"
                    )

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


# -- LTX chains made from real SQLite states, independent of the replication engine --

PAGE = 4096


def pages_of(data: bytes) -> dict[int, bytes]:
    return {i // PAGE + 1: data[i : i + PAGE] for i in range(0, len(data), PAGE)}


class Chain:
    """Turns successive database files into L0 LTX files on a memory replica."""

    def __init__(self, client: ReplicaClient) -> None:
        self.client = client
        self.pages: dict[int, bytes] = {}
        self.txid = 0
        self.states: dict[int, bytes] = {}

    def encode(
        self, lo: int, hi: int, pages: dict[int, bytes], changed, pre: int, ts: int
    ) -> bytes:
        commit = len(pages)
        header = Header(
            page_size=PAGE,
            commit=commit,
            min_txid=lo,
            max_txid=hi,
            timestamp=ts,
            pre_apply_checksum=pre,
        )
        out = io.BytesIO()
        enc = Encoder(out, header)
        for pgno in sorted(changed):
            enc.write_page(pgno, pages[pgno])
        enc.finish(database_checksum(sorted(pages.items())))
        return out.getvalue()

    async def add(self, db_bytes: bytes, *, level: int = 0) -> None:
        new = pages_of(db_bytes)
        changed = [p for p, d in new.items() if self.pages.get(p) != d]
        pre = database_checksum(sorted(self.pages.items())) if self.txid else 0
        self.txid += 1
        data = self.encode(
            self.txid,
            self.txid,
            new,
            changed if self.txid > 1 else new,
            pre,
            1_700_000_000_000 + self.txid * 1000,
        )
        await self.client.write_ltx_file(level, self.txid, self.txid, data)
        self.pages = new
        self.states[self.txid] = db_bytes


async def make_history(tmp_path: Path, n: int = 12, client: ReplicaClient | None = None) -> Chain:
    client = client or MemoryReplicaClient()
    await client.init()
    chain = Chain(client)
    src = tmp_path / "src.db"
    conn = sqlite3.connect(src, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    await chain.add(src.read_bytes())
    for i in range(n):
        if i == n - 3:
            conn.execute("DELETE FROM t WHERE id % 2 = 0")
        elif i == n - 2:
            conn.execute("VACUUM")  # shrinks the file: restore must truncate
        else:
            conn.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(100 + i * 3000),))
        await chain.add(src.read_bytes())
    conn.close()
    return chain


def replica_max_txid(replica: Path) -> int:
    """The newest TXID in a file replica (0 if none), from the file names."""
    names = [p.name for p in replica.glob("ltx/[0-9]/*.ltx")]  # not the identity (level 10)
    return max((int(n[17:33], 16) for n in names), default=0)


def wait_for_upload(replica: Path, above: int, timeout: float = 30.0) -> None:
    """Wait until the replicator has uploaded a TXID beyond ``above`` (so it is running)."""
    wait_for(lambda: replica_max_txid(replica) > above, timeout)


def s3_env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return base | {"LITESTREAM_ACCESS_KEY_ID": "test", "LITESTREAM_SECRET_ACCESS_KEY": "test"}


def make_bucket(port: int, name: str) -> None:
    import boto3

    boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    ).create_bucket(Bucket=name)  # fmt: skip
