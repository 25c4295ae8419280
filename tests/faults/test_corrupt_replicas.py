"""Damaged replicas: a restore is right or fails cleanly, and ``verify`` flags every one;
follow mode and the VFS refuse the other database's files too.

Right means byte for byte the database as it was at a committed TXID (and so passing
``PRAGMA integrity_check``); failing means a one-line error of the product's own
hierarchy and nothing at the output path. Restores here run without SQLite's integrity
check, so the chain checks alone must catch every damaged replica.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestream_file.client import FileReplicaClient

from litestream_core.backend_support.timestamps import stored_timestamp
from litestream_core.engine.follow import Follower, FollowError
from litestream_core.engine.restore import restore
from litestream_core.engine.verify import VerifyReport, verify_replica
from litestream_core.errors import LitestreamError, RestoreError
from litestream_core.ltx.header import MAX_TIMESTAMP_MS, Header
from litestream_core.vfs import loop as vfs_loop
from litestream_core.vfs.database import ReplicaDatabase

sys.path.insert(0, str(Path(__file__).parent))
from corrupt_replica_corpus import CASES, HEALTHY, Source, as_txid, build_sources, compact_copy

OURS = Path(sys.executable).with_name("litestream")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Source, Source]:
    return build_sources(tmp_path_factory.mktemp("sources"))


def damaged(case: str, sources: tuple[Source, Source], where: Path) -> Path:
    a, b = sources
    replica = where / "replica"
    shutil.copytree(a.replica, replica)
    (CASES | HEALTHY)[case](replica, a, b)
    return replica


def restore_to(replica: Path, out: Path, txid: int | None = None) -> LitestreamError | None:
    try:
        asyncio.run(restore(FileReplicaClient(replica), out, txid=txid, integrity_check="none"))
    except LitestreamError as exc:
        return exc
    return None


def verify(replica: Path) -> VerifyReport:
    return asyncio.run(verify_replica(FileReplicaClient(replica)))


def assert_right_or_failed(
    out: Path, error: LitestreamError | None, states: dict[int, bytes], txid: int | None = None
) -> bool:
    """True if the restore succeeded (with a committed state), False if it failed cleanly."""
    if error is not None:
        assert "\n" not in error.one_line()
        assert (
            sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")) == []
        )
        assert not out.exists()
        return False
    data = out.read_bytes()
    if txid is None:
        assert data in states.values(), "restored a database that was never committed"
    else:
        assert data == states[txid]
    conn = sqlite3.connect(out)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    return True


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_replica_restores_right_or_fails_and_verify_flags_it(
    case: str, sources: tuple[Source, Source], tmp_path: Path
) -> None:
    a = sources[0]
    replica = damaged(case, sources, tmp_path)
    report = verify(replica)
    assert not report.ok, f"verify found nothing wrong with {case!r}"
    outcomes = []
    for txid in [None, *sorted(a.states)]:
        out = tmp_path / f"out-{txid}.db"
        error = restore_to(replica, out, txid)
        outcomes.append(assert_right_or_failed(out, error, a.states))
    if case not in ("damaged identity",):
        assert not outcomes[0], f"the newest state of {case!r} restored"


@pytest.mark.parametrize("case", sorted(HEALTHY))
def test_healthy_replica_restores_every_state_and_verifies(
    case: str, sources: tuple[Source, Source], tmp_path: Path
) -> None:
    a = sources[0]
    replica = damaged(case, sources, tmp_path)
    report = verify(replica)
    assert report.ok and not report.warnings, (report.problems, report.warnings)
    assert [p.txid for p in report.points] == sorted(a.states)
    for txid in [None, *sorted(a.states)]:
        out = tmp_path / f"out-{txid}.db"
        assert assert_right_or_failed(
            out, restore_to(replica, out, txid), a.states, txid or a.newest
        )


def test_foreign_file_after_a_compacted_chain_is_refused(
    sources: tuple[Source, Source], tmp_path: Path
) -> None:
    """The plan reaches the foreign file from an L1 file or snapshot, which records no WAL
    position: the L0 file still beside them is compared instead."""
    a, b = sources
    replica = tmp_path / "compacted"
    compact_copy(a.replica, replica)
    out = tmp_path / "before.db"
    assert assert_right_or_failed(out, restore_to(replica, out), a.states, a.newest)
    assert verify(replica).ok
    shutil.copy(b.l0(a.newest + 1), replica / a.l0(a.newest + 1).relative_to(a.replica))
    error = restore_to(replica, tmp_path / "after.db")
    assert error is not None and "cannot follow" in str(error)
    assert_right_or_failed(tmp_path / "after.db", error, a.states)
    assert any("cannot follow" in p for p in verify(replica).problems)


def test_foreign_whole_database_in_the_middle(
    sources: tuple[Source, Source], tmp_path: Path
) -> None:
    """The one mix no check can see where it ends: a whole database at TXID k looks like
    the snapshot a replicator writes after losing its position. Every restore past it is
    refused (the next file cannot follow it), verify flags the replica, and states
    before it are right; a restore to exactly TXID k gives the other database, a state
    it did commit (documented in docs/restore-safety.md)."""
    a, b = sources
    k = a.newest // 2 + 1
    replica = tmp_path / "replica"
    shutil.copytree(a.replica, replica)
    as_txid(b.l0(1), replica / a.l0(k).relative_to(a.replica), k)
    assert any("cannot follow" in p for p in verify(replica).problems)
    for txid in sorted(a.states):
        out = tmp_path / f"out-{txid}.db"
        error = restore_to(replica, out, txid)
        if txid < k:
            assert assert_right_or_failed(out, error, a.states, txid)
        elif txid == k:
            assert assert_right_or_failed(out, error, b.states, 1)
        else:
            assert not assert_right_or_failed(out, error, a.states)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pick=st.integers(min_value=0), offset=st.integers(min_value=0), bit=st.integers(0, 7))
def test_any_flipped_bit_is_caught_or_harmless(
    sources: tuple[Source, Source], pick: int, offset: int, bit: int
) -> None:
    a = sources[0]
    with tempfile.TemporaryDirectory() as tmp:
        replica = Path(tmp) / "replica"
        shutil.copytree(a.replica, replica)
        files = sorted(p for p in replica.rglob("*.ltx"))
        victim = files[pick % len(files)]
        data = bytearray(victim.read_bytes())
        data[offset % len(data)] ^= 1 << bit
        victim.write_bytes(bytes(data))
        out = Path(tmp) / "out.db"
        restored = assert_right_or_failed(out, restore_to(replica, out), a.states)
        if verify(replica).ok:  # a flip that changes nothing decoded (an LZ4 match offset)
            assert restored and out.read_bytes() == a.states[a.newest]


@pytest.mark.parametrize(
    "case", ["foreign file in the middle", "foreign file at the next TXID", "truncated newest file"]
)
def test_cli_says_why_in_one_line(
    case: str, sources: tuple[Source, Source], tmp_path: Path
) -> None:
    replica = damaged(case, sources, tmp_path)
    out = tmp_path / "out.db"
    result = subprocess.run(
        [str(OURS), "restore", "-o", str(out), f"file://{replica}"], capture_output=True, text=True
    )
    assert result.returncode == 1 and result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists()
    result = subprocess.run(
        [str(OURS), "verify", f"file://{replica}"], capture_output=True, text=True
    )
    assert result.returncode == 1 and "Error: replica is broken" in result.stderr


@pytest.mark.parametrize("timestamp", [MAX_TIMESTAMP_MS + 1, 72059390581315305])
def test_a_header_time_no_file_is_written_at_is_no_stored_time(timestamp: int) -> None:
    """A flipped bit in a header's time: listings use the storage's time instead of
    failing the whole listing (verify then reports the file by its checksum)."""
    good = Header(page_size=4096, commit=1, min_txid=1, max_txid=1, timestamp=1_700_000_000_000)
    assert stored_timestamp(good.encode()) == 1_700_000_000_000
    assert stored_timestamp(replace(good, timestamp=timestamp).encode()) is None


def _prefix(a: Source, upto: int, where: Path) -> Path:
    """A copy of A's replica holding only its files up to TXID ``upto``."""
    replica = where / "prefix"
    shutil.copytree(a.replica, replica)
    for txid in range(upto + 1, a.newest + 1):
        (replica / a.l0(txid).relative_to(a.replica)).unlink()
    return replica


def _add(a: Source, replica: Path, src: Path, txid: int) -> None:
    shutil.copy(src, replica / a.l0(txid).relative_to(a.replica))


@pytest.mark.parametrize("where", ["in the middle", "at the next TXID"])
def test_follow_mode_refuses_a_foreign_file_and_keeps_its_state(
    where: str, sources: tuple[Source, Source], tmp_path: Path
) -> None:
    """Follow mode checks each file against the state it continues: the other
    database's file ends it before any page is written."""
    a, b = sources
    bad = a.newest // 2 + 1 if where == "in the middle" else a.newest + 1
    replica = _prefix(a, bad - 2, tmp_path)
    out = tmp_path / "follower.db"

    async def run() -> None:
        follower = Follower(FileReplicaClient(replica), out)
        assert await follower.open() == bad - 2
        _add(a, replica, a.l0(bad - 1), bad - 1)
        await follower.poll()
        assert follower.txid == bad - 1
        _add(a, replica, b.l0(bad), bad)
        for txid in range(bad + 1, a.newest + 1):
            _add(a, replica, a.l0(txid), txid)
        with pytest.raises(FollowError, match="another database"):
            await follower.poll()
        assert follower.txid == bad - 1

    asyncio.run(run())
    data = out.read_bytes()
    assert data[100:] == a.states[bad - 1][100:]  # page 1's header is the follower's own


@pytest.mark.parametrize("where", ["in the middle", "at the next TXID"])
def test_vfs_refuses_a_foreign_file_at_open_and_at_a_poll(
    where: str, sources: tuple[Source, Source], tmp_path: Path
) -> None:
    """The VFS reads the chain a restore would apply: one with the other database's
    file is refused at open, and a poll that finds one keeps the state it has."""
    a, b = sources
    bad = a.newest // 2 + 1 if where == "in the middle" else a.newest + 1
    replica = _prefix(a, bad - 1, tmp_path)
    live = ReplicaDatabase(FileReplicaClient(replica), poll_interval=0)
    live.open()
    try:
        _add(a, replica, b.l0(bad), bad)
        with pytest.raises(RestoreError, match="another database"):
            vfs_loop.run(live._advance())
        assert live.state.txid == bad - 1
    finally:
        live.close()
    with pytest.raises(RestoreError, match="another database"):
        ReplicaDatabase(FileReplicaClient(replica), poll_interval=0).open()
