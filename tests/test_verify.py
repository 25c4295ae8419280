"""``verify_replica`` proves sound replicas and names what is wrong with broken ones."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from litestream_core.client import ReplicaClient
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.verify import verify_replica
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Header, database_checksum, encode_file
from litestream_core.testing.memory import MemoryReplicaClient

sys.path.insert(0, str(Path(__file__).parent))
from test_compaction_support import History, all_files, db_pages, reachable

SETTINGS = CompactionSettings(level_intervals=(1.0, 2.0), l0_retention=1.0)


@pytest.fixture
async def client():
    c = MemoryReplicaClient()
    await c.init()
    yield c
    await c.close()


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path / "db.sqlite", checksums=True)
    yield h
    h.close()


async def _compacted_replica(client: ReplicaClient, history: History) -> None:
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    comp = Compactor(client, SETTINGS, clock=lambda: clock[0])
    for _ in range(4):
        await history.upload(client, history.write(5))
        await comp.compact(1)
    await comp.compact(2)
    await comp.snapshot()
    await history.upload(client, history.write(3))
    clock[0] = history.timestamp(history.txid) + timedelta(hours=1)
    await comp.enforce_l0_retention()


@pytest.mark.anyio
async def test_sound_replica_lists_exactly_the_reachable_points(client, history):
    await _compacted_replica(client, history)
    report = await verify_replica(client)
    assert report.ok, report.problems
    expected = reachable(await all_files(client))
    assert [p.txid for p in report.points] == sorted(expected)
    assert report.points[-1].txid == history.txid
    for point in report.points:  # every point is stamped with its own commit time
        assert point.timestamp == history.timestamp(point.txid)
    assert report.unchecksummed_files == 0


def _ltx(history: History, lo: int, hi: int, pages, *, flags: int = 0, pre: int | None = None):
    state = history.states[hi]
    prev_pages = db_pages(history.states[lo - 1], history.page_size) if lo > 1 else []
    header = Header(
        page_size=history.page_size,
        commit=len(state) // history.page_size,
        min_txid=lo,
        max_txid=hi,
        timestamp=history.times[hi],
        pre_apply_checksum=0
        if lo == 1 or flags
        else (database_checksum(prev_pages) if pre is None else pre),
        flags=flags,
    )
    post = 0 if flags else database_checksum(db_pages(state, history.page_size))
    return encode_file(header, pages, post)


@pytest.mark.anyio
async def test_compacted_file_with_wrong_pages_is_caught(client, history):
    await history.upload(client, history.write(10))
    # An L1 file for 6..10 whose header claims the right checksums but whose pages are
    # those of TXID 9: only following the chain shows it.
    wrong = db_pages(history.states[9], history.page_size)
    await client.write_ltx_file(1, 6, 10, _ltx(history, 6, 10, wrong))
    report = await verify_replica(client)
    assert not report.ok
    assert any("L1 0000000000000006-000000000000000a.ltx" in p for p in report.problems)


@pytest.mark.anyio
async def test_wrong_pre_apply_claim_is_caught(client, history):
    txids = history.write(6)
    await history.upload(client, txids[:5])
    pages = db_pages(history.states[6], history.page_size)
    await client.write_ltx_file(0, 6, 6, _ltx(history, 6, 6, pages, pre=(1 << 63) | 12345))
    report = await verify_replica(client)
    assert any("expects database checksum" in p for p in report.problems)


@pytest.mark.anyio
async def test_missing_file_makes_the_newest_state_unreachable(client, history):
    txids = history.write(8)
    await history.upload(client, [t for t in txids if t != 4])
    report = await verify_replica(client)
    assert not report.ok
    assert "newest TXID 0000000000000008 cannot be restored" in report.problems[-1]
    assert [p.txid for p in report.points] == [1, 2, 3]
    assert any("gap" in w for w in report.warnings)


@pytest.mark.anyio
async def test_corrupt_file_is_unreadable(tmp_path, history):
    from litestream_file.client import FileReplicaClient

    client = FileReplicaClient(tmp_path / "replica")
    await client.init()
    await history.upload(client, history.write(3))
    path = client.file_path(0, 2, 2)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = await verify_replica(client)
    assert not report.ok
    assert report.problems[0].startswith("L0 0000000000000002-0000000000000002.ltx is unreadable")


@pytest.mark.anyio
async def test_files_without_checksums_are_still_walked(client, history):
    """Go 0.5 writes every file with the no-checksum flag: no claims, chain still followed."""
    txids = history.write(5)
    for t in txids:
        prev = dict(db_pages(history.states[t - 1], history.page_size)) if t > 1 else {}
        pages = [
            (p, d) for p, d in db_pages(history.states[t], history.page_size) if prev.get(p) != d
        ]
        flags = 0 if t == 1 else HEADER_FLAG_NO_CHECKSUM
        await client.write_ltx_file(0, t, t, _ltx(history, t, t, pages, flags=flags))
    await Compactor(client, SETTINGS).compact(1)
    report = await verify_replica(client)
    assert report.ok, report.problems
    assert report.unchecksummed_files == 5  # four L0 files and the L1 file merged from them
    assert [p.txid for p in report.points] == [1, 2, 3, 4, 5]


@pytest.mark.anyio
async def test_empty_replica_is_broken(client):
    report = await verify_replica(client)
    assert report.problems == ["replica has no LTX files"]


@pytest.mark.anyio
async def test_snapshot_holding_a_different_state_is_caught(client, history):
    await history.upload(client, history.write(6))
    stale = history.snapshot_file(4)
    # Same bytes as a snapshot of TXID 4, but named and stamped as TXID 1-6.
    from litestream_core.ltx import Decoder

    dec = Decoder(io.BytesIO(stale))
    pages = list(dec.pages())
    header = dec.header.with_(max_txid=6, commit=len(history.states[6]) // history.page_size)
    pages += [
        (p, d)
        for p, d in db_pages(history.states[6], history.page_size)
        if p > len(history.states[4]) // history.page_size
    ]
    await client.write_ltx_file(9, 1, 6, encode_file(header, pages, database_checksum(pages)))
    report = await verify_replica(client)
    assert any(p.startswith("L9 0000000000000001-0000000000000006.ltx") for p in report.problems)


@pytest.mark.anyio
async def test_a_compacted_file_carries_the_chain_over_a_missing_l0_file(client, history):
    from litestream_core.ltx import compact

    txids = history.write(10)
    await history.upload(client, [t for t in txids if t != 6])
    out = io.BytesIO()
    compact([io.BytesIO(history.files[t]) for t in range(4, 9)], out)
    await client.write_ltx_file(1, 4, 8, out.getvalue())
    report = await verify_replica(client)
    assert report.ok, report.problems
    assert [p.txid for p in report.points] == [1, 2, 3, 4, 5, 8, 9, 10]
    assert report.unreachable_files == 2  # L0 7 and 8 start from states nothing reaches


@pytest.mark.anyio
async def test_snapshot_inside_a_compacted_range_is_a_point_not_a_warning(client, history):
    """Retention and compaction leave snapshots that no chain stops at and files older
    than any snapshot: a healthy replica, so no warnings (the issue counted 16)."""
    clock = [datetime(2030, 1, 1, tzinfo=UTC)]
    comp = Compactor(client, SETTINGS, clock=lambda: clock[0])
    await history.upload(client, history.write(10))
    await comp.compact(1)  # L1 1-10
    await history.upload(client, history.write(10))
    await comp.snapshot()  # L9 1-20
    await history.upload(client, history.write(10))
    await comp.compact(1)  # L1 11-30: the walk steps from 10 to 30, past the snapshot
    # L0 retention, as Go's would leave it: the files L1 holds are gone.
    await client.delete_ltx_files([f async for f in client.ltx_files(0)])
    report = await verify_replica(client)
    assert report.ok and report.warnings == [], (report.problems, report.warnings)
    assert [p.txid for p in report.points] == [10, 20, 30]
    assert [(a.txid, b.txid) for a, b in report.ranges] == [(10, 30), (20, 20)]


def test_verify_stops_quietly_when_its_reader_goes_away(tmp_path):
    """``litestream verify | head``: no "Broken pipe" error (status 1, as every command)."""
    import os
    import subprocess

    from litestream_core.testing.e2e import insert_rows

    db, replica = tmp_path / "app.db", tmp_path / "replica"
    insert_rows(db, range(20), wal=True)
    ours = Path(sys.executable).with_name("litestream")
    subprocess.run([str(ours), "replicate", "-once", str(db), f"file://{replica}"], check=True)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before verify writes a line
    try:
        proc = subprocess.run(
            [str(ours), "verify", f"file://{replica}"], stdout=write_end, stderr=subprocess.PIPE
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and proc.stderr == b""


@pytest.mark.anyio
async def test_l0_file_stamped_before_its_predecessor_is_a_warning(client):
    """A wall clock stepped back writes this: the replica restores, but not by time."""
    from litestream_core.testing.ltxgen import make_ltx_bytes

    await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1, pages=2, timestamp_ms=5_000_000))
    await client.write_ltx_file(
        0, 2, 2, make_ltx_bytes(2, 2, pages=2, seed=1, timestamp_ms=4_000_000, no_checksum=True)
    )
    report = await verify_replica(client)
    assert report.ok, report.problems
    assert [w for w in report.warnings if "stamped 1000 s before" in w]
