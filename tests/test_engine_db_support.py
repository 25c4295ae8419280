"""Helpers and the application-closing fixture for the database monitor's tests (no tests).

The oracle is independent of the engine: the application's own stdlib ``sqlite3``
connection (in a child process) serialises the database as SQLite sees it, and a few
lines below apply LTX files to a byte buffer the way any restore must.
"""

from __future__ import annotations

import asyncio
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from litestream_core.engine.db import DB
from litestream_core.ltx import decode_file, parse_filename

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


_CHILD = r"""
import pickle, sqlite3, sys
path, autocheckpoint, create = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
conn = sqlite3.connect(path, isolation_level=None, timeout=5)
if create:
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
out = sys.stdout.buffer
while True:
    try:
        op, arg, params = pickle.load(sys.stdin.buffer)
    except EOFError:
        break
    try:
        if op == "execute":
            reply = ("ok", conn.execute(arg, params).fetchall())
        else:
            reply = ("ok", conn.serialize())
    except Exception as exc:
        reply = ("error", f"{type(exc).__name__}: {exc}")
    pickle.dump(reply, out)
    out.flush()
"""


class Rows(list[tuple[Any, ...]]):
    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self[0] if self else None


class AppProcess:
    """The application: a stdlib ``sqlite3`` connection in ANOTHER process.

    It must be another process: two SQLite library copies in one process (the stdlib's
    and APSW's) do not see each other's POSIX locks, so our read lock would not
    protect the WAL from the application's checkpoints at all.
    """

    def __init__(self, path: Path, *, autocheckpoint: int = 1000, create: bool = True) -> None:
        args = [
            sys.executable,
            "-c",
            _CHILD,
            str(path),
            str(autocheckpoint),
            "1" if create else "0",
        ]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.execute("SELECT 1")  # the database exists once the child answers

    def _call(self, op: str, arg: str = "", params: tuple[Any, ...] = ()) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        pickle.dump((op, arg, params), self._proc.stdin)
        self._proc.stdin.flush()
        status, value = pickle.load(self._proc.stdout)
        if status == "error":
            raise sqlite3.OperationalError(value)
        return value

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Rows:
        return Rows(self._call("execute", sql, params))

    def serialize(self) -> bytes:
        data: bytes = self._call("serialize")
        return data

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=10)


def app_connect(path: Path, *, autocheckpoint: int = 1000) -> AppProcess:
    app = AppProcess(path, autocheckpoint=autocheckpoint)
    _APPS.append(app)
    return app


_APPS: list[AppProcess] = []


def close_apps() -> None:
    while _APPS:
        _APPS.pop().close()


@pytest.fixture(autouse=True)
def stop_applications() -> Iterator[None]:
    """Closes every application ``app_connect`` started; a test module imports it."""
    yield
    close_apps()


def l0_files(db: DB) -> list[Path]:
    return sorted(db.ltx_dir(0).glob("*.ltx"))


def apply_files(files: list[Path], image: bytearray | None = None) -> bytearray:
    """Apply LTX files in order; each must continue the previous TXID exactly."""
    buf = bytearray() if image is None else image
    prev = None
    for path in files:
        header, pages, _ = decode_file(path.read_bytes())
        assert parse_filename(path.name) == (header.min_txid, header.max_txid)
        if prev is not None:
            assert header.min_txid == prev + 1, f"gap before {path.name}"
        prev = header.max_txid
        size = header.commit * header.page_size
        if header.is_snapshot:
            buf.clear()
        if len(buf) < size:
            buf.extend(bytes(size - len(buf)))
        for pgno, data in pages:
            buf[(pgno - 1) * header.page_size : pgno * header.page_size] = data
        del buf[size:]
    return buf


class ChainChecker:
    """Applies each new L0 file as it appears and compares with the live database."""

    def __init__(self, db: DB, app: AppProcess) -> None:
        self.db, self.app = db, app
        self.image = bytearray()
        self.applied: list[Path] = []

    def check(self) -> None:
        files = l0_files(self.db)
        new = [f for f in files if f not in self.applied]
        if self.applied and new:
            last = parse_filename(self.applied[-1].name)[1]
            assert parse_filename(new[0].name)[0] == last + 1, "TXIDs must rise by one"
        apply_files(new, self.image)
        self.applied.extend(new)
        want = self.app.serialize()
        if bytes(self.image) != want:
            ps = self.app.execute("PRAGMA page_size").fetchone()[0]
            bad = [
                i // ps + 1
                for i in range(0, len(want), ps)
                if self.image[i : i + ps] != want[i : i + ps]
            ]
            raise AssertionError(
                f"chain differs at TXID {self.db.pos().txid}: sizes {len(self.image)} vs "
                f"{len(want)}, pages {bad[:10]}"
            )


def write_mixed(app: AppProcess, step: int) -> None:
    """One transaction of a varied workload: inserts, multi-page blobs, updates, deletes."""
    kind = step % 5
    if kind == 0:
        app.execute("INSERT INTO t (v) VALUES (randomblob(100))")
    elif kind == 1:
        app.execute("INSERT INTO t (v) VALUES (randomblob(?))", (9000 + step * 37,))
    elif kind == 2:
        app.execute("UPDATE t SET v = randomblob(300) WHERE id % 4 = ?", (step % 4,))
    elif kind == 3:
        app.execute("BEGIN")
        for _ in range(5):
            app.execute("INSERT INTO t (v) VALUES (randomblob(1500))")
        app.execute("COMMIT")
    else:
        app.execute("DELETE FROM t WHERE id % 7 = ?", (step % 7,))


async def write_and_sync(db: DB, app: AppProcess, steps: range) -> None:
    """One ``write_mixed`` transaction per step, each followed by a sync."""
    for step in steps:
        write_mixed(app, step)
        await db.sync()
