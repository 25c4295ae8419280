"""The restore engine against LTX chains made from real SQLite database states.

The chain is built here independently of the replication engine: each state of a
rollback-journal database is diffed page by page against the previous one, so a
restore can be compared byte for byte with the database it should reproduce.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import PAGE, Chain, make_history, pages_of

from litestream_core.engine.restore import restore
from litestream_core.errors import (
    ChecksumMismatchError,
    LTXError,
    RestoreError,
    TransientReplicaError,
)
from litestream_core.events import RestoreCompleted, RestoreProgress
from litestream_core.ltx import database_checksum
from litestream_core.testing.memory import MemoryReplicaClient


def test_restore_latest_and_every_txid_byte_identical(tmp_path):
    async def main():
        chain = await make_history(tmp_path)
        for txid, expected in chain.states.items():
            out = tmp_path / f"out-{txid}.db"
            result = await restore(chain.client, out, txid=txid, integrity_check="full")
            assert result.txid == txid
            assert out.read_bytes() == expected
        out = tmp_path / "latest.db"
        await restore(chain.client, out)
        assert out.read_bytes() == chain.states[chain.txid]

    asyncio.run(main())


def test_restore_from_snapshot_and_compacted_levels(tmp_path):
    async def main():
        chain = await make_history(tmp_path)
        # An L9 snapshot of TXID 6 and an L1 file 7..9 replace most L0 files.
        snap = chain.encode(1, 6, pages_of(chain.states[6]), pages_of(chain.states[6]), 0, 1)
        await chain.client.write_ltx_file(9, 1, 6, snap)
        p6, p9 = pages_of(chain.states[6]), pages_of(chain.states[9])
        changed = [p for p, d in p9.items() if p6.get(p) != d]
        l1 = chain.encode(7, 9, p9, changed, database_checksum(sorted(p6.items())), 2)
        await chain.client.write_ltx_file(1, 7, 9, l1)
        events = []
        out = tmp_path / "out.db"
        result = await restore(chain.client, out, emit=events.append)
        assert [(f.level, f.min_txid) for f in result.plan.files[:2]] == [(9, 1), (1, 7)]
        assert out.read_bytes() == chain.states[chain.txid]
        await asyncio.sleep(0)  # progress events are delivered through the loop
        assert isinstance(events[-1], RestoreCompleted)
        progress = [e for e in events if isinstance(e, RestoreProgress)]
        assert progress and progress[-1].done_bytes == progress[-1].total_bytes

    asyncio.run(main())


def test_corrupted_file_fails_and_leaves_nothing(tmp_path):
    async def main():
        chain = await make_history(tmp_path, n=4)
        key = (0, 3, 3)
        stored = chain.client.store.files[key]
        data = bytearray(stored.data)
        data[len(data) // 2] ^= 0xFF
        chain.client.store.files[key] = type(stored)(bytes(data), stored.info)
        out = tmp_path / "out.db"
        with pytest.raises(LTXError):
            await restore(chain.client, out)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["src.db"]

    asyncio.run(main())


def test_broken_checksum_chain_is_detected(tmp_path):
    async def main():
        chain = await make_history(tmp_path, n=4)
        # Replace TXID 3 with a file from another history: valid on its own, wrong here.
        other = pages_of(chain.states[3])
        other[2] = b"\x00" * PAGE
        bogus = chain.encode(
            3, 3, other, [2], database_checksum(sorted(pages_of(chain.states[2]).items())), 5
        )
        await chain.client.write_ltx_file(0, 3, 3, bogus)
        with pytest.raises(ChecksumMismatchError):
            await restore(chain.client, tmp_path / "out.db")
        assert not (tmp_path / "out.db").exists()

    asyncio.run(main())


def test_existing_database_is_never_replaced_unless_asked(tmp_path):
    async def main():
        chain = await make_history(tmp_path, n=3)
        out = tmp_path / "out.db"
        out.write_bytes(b"precious")
        with pytest.raises(RestoreError, match="already exists"):
            await restore(chain.client, out)
        assert out.read_bytes() == b"precious"
        wal = tmp_path / "out.db-wal"
        wal.write_bytes(b"stale wal")
        await restore(chain.client, out, overwrite=True)
        assert out.read_bytes() == chain.states[chain.txid]
        assert not wal.exists()

    asyncio.run(main())


def test_empty_output_file_may_be_replaced(tmp_path):
    async def main():
        chain = await make_history(tmp_path, n=2)
        out = tmp_path / "out.db"
        out.touch()
        await restore(chain.client, out)
        assert out.read_bytes() == chain.states[chain.txid]

    asyncio.run(main())


def test_failed_integrity_check_leaves_nothing(tmp_path):
    async def main():
        client = MemoryReplicaClient()
        await client.init()
        chain = Chain(client)
        # Valid LTX, valid checksums, but the pages are not a SQLite database.
        await chain.add(b"\x01" * PAGE * 2)
        out = tmp_path / "out.db"
        with pytest.raises(RestoreError, match="integrity check failed"):
            await restore(client, out, integrity_check="quick")
        assert list(tmp_path.iterdir()) == []

    asyncio.run(main())


class DroppingClient(MemoryReplicaClient):
    """Streams that break after a few bytes, a few times: restore must resume them."""

    def __init__(self, store, drops: int) -> None:
        super().__init__(store)
        self.drops = drops
        self.offsets: list[int] = []

    async def open_ltx_file(self, level, min_txid, max_txid, *, offset=0, size=0):
        self.offsets.append(offset)
        stream = await super().open_ltx_file(level, min_txid, max_txid, offset=offset, size=size)
        if self.drops <= 0:
            return stream
        self.drops -= 1

        class Broken(type(stream)):
            async def read(self, n=-1):
                if self._pos >= 150:
                    raise TransientReplicaError("connection reset", op="read")
                return await super().read(min(n, 150 - self._pos) if n > 0 else 150)

        stream.__class__ = Broken
        return stream


def test_dropped_downloads_resume_at_the_offset_reached(tmp_path):
    async def main():
        chain = await make_history(tmp_path, n=3)
        client = DroppingClient(chain.client.store, drops=2)
        await client.init()
        out = tmp_path / "out.db"
        await restore(client, out, parallelism=1)
        assert out.read_bytes() == chain.states[chain.txid]
        assert 150 in client.offsets  # resumed, not restarted

    asyncio.run(main())
