"""End-to-end helpers: an application writing to SQLite, a YAML config, our
``litestream replicate`` as a child process, and restores by either implementation.

Backend tests use these to show that the CLI, not only the client, works against
their storage; everything backend-specific (the replica's config lines, the
environment carrying credentials) is a parameter.
"""

from __future__ import annotations

import asyncio
import email
import itertools
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from litestream_core.client import LTXFileInfo, ReplicaClient

OUR_LITESTREAM = Path(sys.executable).with_name("litestream")
"""Our console script in the running environment."""

DIAGNOSABLE = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True);"
    "sys.argv[0] = 'litestream'; from litestream_core.cli import main; main()"
)
"""Our CLI's entry point with every thread's stack dumped on SIGUSR1, for hang reports."""


class App:
    """The application: autocommit inserts of multi-page rows, in WAL mode."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")

    def write(self, n: int, pause: float = 0.0) -> None:
        """``n`` transactions of one row each, so each may become its own LTX file."""
        for _ in range(n):
            self.conn.execute("INSERT INTO t (body) VALUES (randomblob(6000))")
            time.sleep(pause)

    def close(self) -> None:
        self.conn.close()


def insert_rows(path: Path, ids: Iterable[int], *, wal: bool = False) -> None:
    """One transaction adding a text row per id to the App's table (made if missing).

    ``wal`` switches the database to WAL mode first; otherwise its journal mode is left
    as it is, so a new database keeps every page in its main file (a snapshot source).
    """
    conn = sqlite3.connect(path)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i} " * 20) for i in ids])
        conn.commit()
    finally:
        conn.close()


def rows(path: Path) -> list[tuple[Any, ...]]:
    """Every row of the App's table, after checking the database's integrity."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT id, body FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def write_config(
    path: Path,
    db: Path,
    replica: Sequence[str],
    *,
    monitor_interval: str | None = "50ms",
    sync_interval: str = "100ms",
    top: Sequence[str] = (),
) -> Path:
    """A config replicating ``db`` with short intervals, so tests run in seconds.

    ``replica`` holds the replica's own keys as ``key: value`` lines; ``top`` holds
    top-level lines. No ``monitor_interval`` leaves the default (Go's, for Go's runs).
    """
    monitor = [] if monitor_interval is None else [f"    monitor-interval: {monitor_interval}"]
    lines = [
        *top,
        "dbs:",
        f"  - path: {db}",
        *monitor,
        "    replica:",
        *(f"      {line}" for line in replica),
        f"      sync-interval: {sync_interval}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class Replicate:
    """Our ``litestream replicate`` as a child process, its output in ``log``."""

    def __init__(
        self,
        config: Path,
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        litestream: Path | None = None,
    ) -> None:
        """Runs the given console script, else our entry point in this interpreter."""
        argv = [str(litestream)] if litestream else [sys.executable, "-c", DIAGNOSABLE]
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*argv, "replicate", "-config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
            )

    def assert_running(self, when: str = "") -> None:
        assert self.proc.poll() is None, f"replicate exited {when or 'early'}:\n{self.output()}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM, which runs a final sync; it must exit 0 within ``timeout`` seconds."""
        self.assert_running()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"replicate did not stop within {timeout} s of SIGTERM:\n{self.output()}")
        assert code == 0, self.output()


def restore(
    out: Path,
    *source: str | Path,
    litestream: Path | str = OUR_LITESTREAM,
    env: Mapping[str, str] | None = None,
) -> None:
    """``litestream restore -o out <source>`` (ours unless ``litestream`` names Go's);
    ``source`` is ``-config <file> <db>`` or a replica URL. It must succeed."""
    proc = subprocess.run(
        [str(litestream), "restore", "-o", str(out), *map(str, source)],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def wait_for(condition: Callable[[], bool], failure: str, *, timeout: float = 30.0) -> None:
    """Poll until ``condition()`` holds; fail the test with ``failure`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(failure)
        time.sleep(0.1)


async def ltx_infos(
    client: ReplicaClient, level: int, *, use_metadata: bool = False
) -> list[LTXFileInfo]:
    """The replica's files at ``level``, in listing order."""
    return [i async for i in client.ltx_files(level, use_metadata=use_metadata)]


async def read_ltx(client: ReplicaClient, info: LTXFileInfo) -> bytes:
    """One whole LTX file from the replica."""
    stream = await client.open_ltx_file(info.level, info.min_txid, info.max_txid)
    async with stream:
        return await stream.readall()


async def l0_ranges(client: ReplicaClient) -> list[tuple[int, int]]:
    """The TXID ranges of the replica's level-0 files, in listing order."""
    return [(i.min_txid, i.max_txid) for i in await ltx_infos(client, 0)]


async def wait_for_l0_files(
    client: ReplicaClient, count: int, replicate: Replicate, *, timeout: float = 30.0
) -> None:
    """Wait until the replica holds ``count`` L0 files while ``replicate`` keeps running."""
    await wait_while_running(lambda: _has_l0_files(client, count), replicate, timeout=timeout)


async def _has_l0_files(client: ReplicaClient, count: int) -> bool:
    return len(await l0_ranges(client)) >= count


async def wait_while_running(
    condition: Callable[[], Awaitable[bool]], replicate: Replicate, *, timeout: float = 30.0
) -> None:
    """Wait until ``condition()`` holds; fail when ``replicate`` exits first or time is up."""
    deadline = time.monotonic() + timeout
    while not await condition():
        replicate.assert_running()
        assert time.monotonic() < deadline, "replication did not reach the server"
        await asyncio.sleep(0.1)


def assert_contiguous(ranges: Sequence[tuple[int, int]]) -> None:
    """The ranges start at TXID 1 and each begins right after the one before."""
    assert ranges, "no L0 files"
    assert ranges[0][0] == 1
    for (_, prev_max), (lo, _) in itertools.pairwise(ranges):
        assert lo == prev_max + 1, f"gap or overlap in L0 TXIDs: {ranges}"


def build_distributions(root: Path, out: Path) -> Path:
    """Every workspace distribution's sdist and wheel, each wheel built from its sdist.

    That is what a release uploads; building the wheels from the sdists also shows that
    each sdist is complete. Returns ``out``.
    """
    subprocess.run(
        [_uv(), "build", "--all-packages", "--out-dir", str(out)],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def venv_with_wheels(
    root: Path, packages: Sequence[str], work: Path, *, dists: Path | None = None
) -> Path:
    """A fresh virtualenv holding only the named workspace distributions, as wheels.

    This is what a user gets from ``pip install litestream-core litestream-<x>``: it
    shows a backend needs nothing from the rest of the workspace. The wheels come from
    ``dists`` (``build_distributions``), built into ``work`` when None; workspace
    distributions the named ones require (the core's checksum kernel) come along, and
    everything else from PyPI. Bytecode is compiled, as pip does. Returns the venv.
    """
    if dists is None:
        dists = build_distributions(root, work / "dists")
    wheels = {_wheel_name(w): w for w in dists.glob("*.whl")}
    wanted: list[NormalizedName] = []
    todo = [canonicalize_name(p) for p in packages]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in wheels:
            pytest.fail(f"no wheel of {name} in {dists}")
        wanted.append(name)
        todo += [r for r in _requirements(wheels[name]) if r in wheels]
    venv = work / "venv"
    uv = _uv()
    subprocess.run(
        [uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True
    )
    subprocess.run(
        [uv, "pip", "install", "--compile-bytecode", "--python", str(venv / "bin" / "python"),
         *(wheels[n] for n in wanted)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return venv


def site_packages(venv: Path) -> Path:
    """The venv's site-packages directory."""
    (path,) = venv.glob("lib/python3*/site-packages")
    return path


def installed_bytes(venv: Path, *, allocated: bool = False) -> int:
    """What the venv's site-packages holds: the sum of its files' sizes (what wheels'
    ``RECORD`` files list), the same on every filesystem. ``allocated``: the disk
    space ``du`` counts instead (whole blocks, so many small files cost more; 5-7%
    more on ext4 with 4 KiB blocks)."""
    files = [f.lstat() for f in site_packages(venv).rglob("*")]
    return sum(f.st_blocks * 512 if allocated else f.st_size for f in files)


def _uv() -> str:
    import shutil

    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (scripts/setup installs it)")
    return uv


def _wheel_name(wheel: Path) -> NormalizedName:
    return canonicalize_name(wheel.name.split("-")[0])


def _requirements(wheel: Path) -> list[NormalizedName]:
    """Names of what the wheel requires unconditionally (no extras, no markers)."""
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        message = email.message_from_bytes(zf.read(meta))
    requirements = [Requirement(r) for r in message.get_all("Requires-Dist") or ()]
    return [canonicalize_name(r.name) for r in requirements if r.marker is None]
