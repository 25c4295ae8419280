"""Pieces shared by the durability tests: the application, the replicators, the checks.

The application is always the stdlib ``sqlite3`` module with its default auto-checkpoint
(1000 pages) running in the test process, and every replicator (ours or Go's) runs as its
own process, as in production: two SQLite library copies in one process do not see each
other's locks, so putting the replicator in the test process would test nothing real.
"""

from __future__ import annotations

import hashlib
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

OURS = Path(sys.executable).with_name("litestream")
WAL_HEADER = 32
FRAME_HEADER = 24
LTX_HEADER = struct.Struct(">4sIIIQQqQqqII")


@dataclass(frozen=True)
class Tool:
    """A replicator binary and the environment it must run with."""

    name: str
    path: Path
    env: dict[str, str] | None = None

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path), *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def replicate(self, config: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(self.path), "replicate", "-config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
        )


def write_config(
    directory: Path, db: Path, replica: Path, interval: str = "50ms", **db_keys: object
) -> Path:
    """A config both tools accept, with short intervals so a round takes well under a second;
    ``db_keys`` adds database keys (``min_checkpoint_page_count=20``)."""
    extra = "".join(f"    {key.replace('_', '-')}: {value}\n" for key, value in db_keys.items())
    cfg = directory / "litestream.yml"
    cfg.write_text(
        f"dbs:\n  - path: {db}\n    monitor-interval: {interval}\n{extra}"
        f"    replica:\n      url: file://{replica}\n      sync-interval: {interval}\n"
    )
    return cfg


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM (final sync, then exit) and wait; a hang is killed and reported as -9."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(0.02)


class App:
    """The application: stdlib sqlite3, WAL mode, default auto-checkpoint, mixed writes.

    ``big()`` commits one transaction of many pages (a blob insert plus an update of
    older rows), so that a few of them cross the 1000-page auto-checkpoint threshold;
    ``small()`` commits a one-row change of a page or two.
    """

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.rng = random.Random(seed)
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB, n INT)")
        self.count = 0

    def big(self, pages: int) -> None:
        self.count += 1
        self.conn.execute("BEGIN")  # one commit: isolation_level=None autocommits each statement
        self.conn.execute(
            "INSERT INTO t (v, n) VALUES (?, ?)", (self.rng.randbytes(pages * 4000), self.count)
        )
        self.conn.execute("UPDATE t SET n = n + 1 WHERE id % 13 = ?", (self.count % 13,))
        if self.count % 5 == 0:  # frees pages: the freelist changes too
            self.conn.execute("DELETE FROM t WHERE id = (SELECT min(id) FROM t)")
        self.conn.execute("COMMIT")

    def small(self) -> None:
        self.count += 1
        self.conn.execute(
            "INSERT INTO t (v, n) VALUES (?, ?)", (self.rng.randbytes(300), self.count)
        )

    def rows(self) -> list[tuple[int, bytes, int]]:
        return self.conn.execute("SELECT id, v, n FROM t ORDER BY id").fetchall()

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class WalEnd:
    """Salts of the current WAL generation and the byte offset after its last commit."""

    salt: tuple[int, int]
    end: int


def wal_end(db: Path, page_size: int = 4096) -> WalEnd:
    """Where the last commit of the current WAL generation ends.

    Frames are read in order while their salts match the WAL header (older generations
    carry other salts); SQLite's running checksum is not recomputed, which is enough for
    a test that only needs to know how far the application has written.
    """
    frame = FRAME_HEADER + page_size
    with open(f"{db}-wal", "rb") as f:
        header = f.read(WAL_HEADER)
        if len(header) < WAL_HEADER:
            return WalEnd((0, 0), WAL_HEADER)
        salt = struct.unpack(">II", header[16:24])
        end = offset = WAL_HEADER
        while len(head := f.read(FRAME_HEADER)) == FRAME_HEADER:
            if struct.unpack(">II", head[8:16]) != salt:
                break
            offset += frame
            if struct.unpack(">I", head[4:8])[0]:
                end = offset
            f.seek(offset)
    return WalEnd(salt, end)


def newest_l0(directory: Path) -> Path | None:
    files = sorted((directory / "ltx" / "0").glob("*.ltx"))
    return files[-1] if files else None


def ltx_wal_end(path: Path) -> WalEnd:
    """The WAL position an L0 file recorded (its salts and offset + size)."""
    with path.open("rb") as f:
        fields = LTX_HEADER.unpack(f.read(LTX_HEADER.size))
    return WalEnd((fields[10], fields[11]), fields[8] + fields[9])


def max_txid(directory: Path) -> int:
    """Newest TXID among the LTX files of a replica or meta directory, from their names."""
    return max((int(p.name[17:33], 16) for p in directory.glob("ltx/[0-9]/*.ltx")), default=0)


def caught_up(db: Path, meta: Path) -> bool:
    """True once the replicator's newest local L0 file ends at the WAL's last commit."""
    newest = newest_l0(meta)
    if newest is None:
        return False
    try:
        return ltx_wal_end(newest) == wal_end(db)
    except (FileNotFoundError, struct.error):
        return False


def integrity(path: Path) -> list[str]:
    """SQLite's verdict; a file too damaged to check gives the error as its one line."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [f"error: {exc}"]
    finally:
        conn.close()


def rows_of(path: Path) -> list[tuple[int, bytes, int]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, v, n FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def file_digest(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file read in chunks, so gigabyte files never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Outcome:
    """What a restore produced: the tool's exit, SQLite's verdict, and whether rows match."""

    returncode: int
    stderr: str
    integrity: list[str] = field(default_factory=list)
    equal: bool = False

    @property
    def intact(self) -> bool:
        return self.returncode == 0 and self.integrity == ["ok"] and self.equal
