"""Follow mode's engine against LTX chains made from real SQLite states (a memory replica).

A followed database differs from the source only where follow mode marks page 1 for
readers (journal mode, change counter, size field); every other byte must be equal.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import PAGE, Chain, make_history, pages_of

from litestream_core.engine.follow import (
    Follower,
    FollowError,
    continuation,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from litestream_core.engine.plan import list_files
from litestream_core.errors import LTXError
from litestream_core.ltx import database_checksum
from litestream_core.testing.memory import MemoryReplicaClient, MemoryStore

MARKED = (range(18, 20), range(24, 32), range(92, 96))


def unmarked(data: bytes) -> bytes:
    """The database without the page-1 bytes follow mode rewrites."""
    out = bytearray(data)
    for r in MARKED:
        out[r.start : r.stop] = bytes(len(r))
    return bytes(out)


def assert_follows(path: Path, expected: bytes, txid: int) -> None:
    data = path.read_bytes()
    assert unmarked(data) == unmarked(expected)
    assert data[18:20] == b"\x01\x01", "readers must use rollback-journal locking"
    assert int.from_bytes(data[24:28], "big") == txid & 0xFFFFFFFF
    assert data[92:96] == data[24:28]
    assert int.from_bytes(data[28:32], "big") == len(data) // PAGE
    assert read_sidecar(path) == txid


async def partial_history(tmp_path: Path, upto: int) -> tuple[Chain, MemoryReplicaClient, list]:
    """A full history on one store, and a second store holding only its first ``upto``
    files: the follower starts on the second, and files are copied over as they "arrive"."""
    chain = await make_history(tmp_path / "src")
    store = MemoryStore()
    client = MemoryReplicaClient(store)
    await client.init()
    files = [f async for f in chain.client.ltx_files(0)]
    for info in files[:upto]:
        await copy(chain.client, client, info)
    return chain, client, files


async def copy(src, dst, info, level: int | None = None) -> None:
    stream = await src.open_ltx_file(info.level, info.min_txid, info.max_txid)
    async with stream:
        data = await stream.readall()
    await dst.write_ltx_file(info.level if level is None else level, info.min_txid,
                             info.max_txid, data)  # fmt: skip


@pytest.fixture
def src_dir(tmp_path):
    (tmp_path / "src").mkdir()
    return tmp_path


def test_follower_applies_each_new_file_in_place(src_dir):
    async def main():
        chain, client, files = await partial_history(src_dir, 3)
        out = src_dir / "follower.db"
        follower = Follower(client, out)
        assert await follower.open() == 3
        assert_follows(out, chain.states[3], 3)
        inode = out.stat().st_ino
        for info in files[3:]:
            await copy(chain.client, client, info)
            applied = await follower.poll()
            assert applied.txid == info.max_txid
            assert_follows(out, chain.states[info.max_txid], info.max_txid)
        assert out.stat().st_ino == inode, "applied in place, never replaced"
        assert (await follower.poll()).files == ()

    asyncio.run(main())


def test_gap_in_level_zero_is_bridged_through_compacted_levels(src_dir):
    async def main():
        chain, client, files = await partial_history(src_dir, 3)
        out = src_dir / "follower.db"
        follower = Follower(client, out)
        await follower.open()
        # TXIDs 4..8 only as one L1 file; L0 continues at 9.
        p3, p8 = pages_of(chain.states[3]), pages_of(chain.states[8])
        changed = [p for p, d in p8.items() if p3.get(p) != d]
        l1 = chain.encode(4, 8, p8, changed, database_checksum(sorted(p3.items())), 9_000)
        await client.write_ltx_file(1, 4, 8, l1)
        for info in files[8:]:
            await copy(chain.client, client, info)
        applied = await follower.poll()
        assert [(f.level, f.min_txid) for f in applied.files][:2] == [(1, 4), (0, 9)]
        assert_follows(out, chain.states[chain.txid], chain.txid)

    asyncio.run(main())


def test_corrupt_file_changes_nothing(src_dir):
    async def main():
        chain, client, files = await partial_history(src_dir, 4)
        out = src_dir / "follower.db"
        follower = Follower(client, out)
        await follower.open()
        before = out.read_bytes()
        info = files[4]
        stream = await chain.client.open_ltx_file(0, info.min_txid, info.max_txid)
        async with stream:
            data = bytearray(await stream.readall())
        data[len(data) // 2] ^= 0xFF
        await client.write_ltx_file(0, info.min_txid, info.max_txid, bytes(data))
        with pytest.raises(LTXError, match="checksum"):
            await follower.poll()
        assert out.read_bytes() == before
        assert read_sidecar(out) == 4

    asyncio.run(main())


def test_resume_after_a_crash_in_the_middle_of_a_file(src_dir):
    async def main():
        chain, client, files = await partial_history(src_dir, 5)
        out = src_dir / "follower.db"
        await Follower(client, out).open()
        for info in files[5:]:
            await copy(chain.client, client, info)
        # A follower killed while writing TXID 6: half its pages, no sidecar update.
        half = sorted(pages_of(chain.states[6]).items())[::2]
        fd = os.open(out, os.O_WRONLY)
        for pgno, page in half:
            if pgno > 1:
                os.pwrite(fd, page, (pgno - 1) * PAGE)
        os.close(fd)
        follower = Follower(client, out)
        assert await follower.open() == 5
        await follower.poll()
        assert_follows(out, chain.states[chain.txid], chain.txid)

    asyncio.run(main())


def test_resume_is_refused_where_the_replica_cannot_continue(src_dir):
    async def main():
        chain, client, files = await partial_history(src_dir, 4)
        out = src_dir / "follower.db"
        await Follower(client, out).open()

        write_sidecar(out, 40)  # ahead of everything the replica holds: reset or replaced
        with pytest.raises(FollowError, match="ahead of the replica"):
            await Follower(client, out).open()

        write_sidecar(out, 2)  # files 3..4 exist: fine
        assert await Follower(client, out).open() == 2

        sidecar_path(out).unlink()
        with pytest.raises(FollowError, match="no -txid file"):
            await Follower(client, out).open()

        # History pruned: TXID 3 is gone, only a later snapshot and L0 remain.
        write_sidecar(out, 2)
        await client.delete_ltx_files([f for f in files[:4] if f.min_txid > 2])
        for info in files[4:6]:
            await copy(chain.client, client, info)
        with pytest.raises(FollowError, match="no longer holds"):
            await Follower(client, out).open()
        assert read_sidecar(out) == 2

    asyncio.run(main())


def test_existing_database_is_not_replaced_without_force(src_dir):
    async def main():
        _, client, _ = await partial_history(src_dir, 3)
        out = src_dir / "follower.db"
        out.write_bytes(b"not yours")
        with pytest.raises(FollowError, match="no -txid file"):
            await Follower(client, out).open()
        assert out.read_bytes() == b"not yours"
        assert await Follower(client, out, overwrite=True).open() == 3

    asyncio.run(main())


def test_stop_ends_the_loop_and_leaves_a_consistent_pair(src_dir):
    async def main():
        chain, client, files = await partial_history(src_dir, 3)
        out = src_dir / "follower.db"
        stop = asyncio.Event()
        follower = Follower(client, out, interval=0.01)
        task = asyncio.create_task(follower.run(stop))
        for info in files[3:]:
            await copy(chain.client, client, info)
            await asyncio.sleep(0.03)
        while follower.txid != chain.txid:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
        assert_follows(out, chain.states[chain.txid], chain.txid)

    asyncio.run(main())


def test_continuation_prefers_the_furthest_reaching_file(src_dir):
    async def main():
        chain, client, files = await partial_history(src_dir, 0)
        for info in files:
            await copy(chain.client, client, info)
        listing = await list_files(client)
        steps = continuation(listing, 3)
        assert [f.min_txid for f in steps] == list(range(4, chain.txid + 1))
        assert continuation(listing, chain.txid) == []

    asyncio.run(main())
