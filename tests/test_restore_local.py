"""Restore from a file replica, read directly in the worker thread, and the paths
that keep memory bounded (small files whole, larger ones streamed or spooled)."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path

import pytest
from litestream_file.client import FileReplicaClient

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import PAGE, make_history, pages_of

from litestream_core.engine import restore as restore_mod
from litestream_core.engine.restore import restore
from litestream_core.engine.streams import as_local_replica
from litestream_core.errors import (
    ChecksumMismatchError,
    LTXError,
    LTXNotFoundError,
    ReplicaClientError,
    TransientReplicaError,
)
from litestream_core.events import RestoreCompleted, RestoreProgress
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Encoder, Header, database_checksum
from litestream_core.plugins import get_plugin_manager, make_replica_client
from litestream_core.testing.memory import MemoryReplicaClient


def file_client(path: Path):
    """A file client as the core builds it, declaring that its files are local."""
    return make_replica_client(f"file://{path}", pm=get_plugin_manager(only={"file"}))


async def file_history(tmp_path: Path, n: int = 12):
    return await make_history(tmp_path, n=n, client=file_client(tmp_path / "replica"))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_every_txid_byte_identical_with_progress(tmp_path):
    async def main():
        chain = await file_history(tmp_path)
        for txid, expected in chain.states.items():
            out = tmp_path / "out" / f"{txid}.db"
            out.parent.mkdir(exist_ok=True)
            await restore(chain.client, out, txid=txid)
            assert out.read_bytes() == expected
        events = []
        result = await restore(chain.client, tmp_path / "latest.db", emit=events.append)
        assert (tmp_path / "latest.db").read_bytes() == chain.states[chain.txid]
        assert isinstance(events[-1], RestoreCompleted)
        progress = [e for e in events if isinstance(e, RestoreProgress)]
        assert progress[-1].done_bytes == progress[-1].total_bytes == result.plan.total_bytes

    asyncio.run(main())


def test_corrupted_file_fails_and_leaves_nothing(tmp_path):
    async def main():
        chain = await file_history(tmp_path, n=4)
        path = chain.client.file_path(0, 3, 3)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        with pytest.raises(LTXError):
            await restore(chain.client, out_dir / "out.db")
        assert leftovers(out_dir) == []

    asyncio.run(main())


def test_file_gone_after_planning_is_a_clear_error(tmp_path):
    async def main():
        chain = await file_history(tmp_path, n=4)
        plan = await restore_mod.build_plan(chain.client)
        chain.client.file_path(0, 2, 2).unlink()
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        with pytest.raises(LTXNotFoundError, match="0000000000000002"):
            await restore(chain.client, out_dir / "out.db", plan=plan)
        assert leftovers(out_dir) == []

    asyncio.run(main())


def _no_checksum_snapshot(pages: dict[int, bytes], txid: int) -> bytes:
    header = Header(
        page_size=PAGE, commit=len(pages), min_txid=1, max_txid=txid,
        timestamp=1_700_000_000_000 + txid * 1000, flags=HEADER_FLAG_NO_CHECKSUM,
    )  # fmt: skip
    out = io.BytesIO()
    enc = Encoder(out, header)
    for pgno in sorted(pages):
        enc.write_page(pgno, pages[pgno])
    enc.finish(0)
    return out.getvalue()


@pytest.mark.parametrize("replica", ["file", "memory"])
def test_checksummed_files_after_a_go_style_snapshot_are_still_checked(tmp_path, replica):
    """A snapshot without checksums (as Go writes) gives no database checksum to carry,
    so the first checksummed file after it is checked against the rebuilt file."""

    async def main():
        client = file_client(tmp_path / "replica") if replica == "file" else MemoryReplicaClient()
        chain = await make_history(tmp_path, n=8, client=client)
        snap = _no_checksum_snapshot(pages_of(chain.states[5]), 5)
        await client.write_ltx_file(9, 1, 5, snap)
        result = await restore(client, tmp_path / "ok.db")
        assert [(f.level, f.min_txid) for f in result.plan.files[:2]] == [(9, 1), (0, 6)]
        assert (tmp_path / "ok.db").read_bytes() == chain.states[chain.txid]

        # TXID 6 rewritten to start from another state: its file is valid, the chain is not.
        p5 = pages_of(chain.states[5])
        other = {**p5, 2: b"\x01" * PAGE}
        p6 = pages_of(chain.states[6])
        changed = [p for p, d in p6.items() if p5.get(p) != d]
        bogus = chain.encode(6, 6, p6, changed, database_checksum(sorted(other.items())), 7)
        await client.write_ltx_file(0, 6, 6, bogus)
        with pytest.raises(ChecksumMismatchError, match="pre-apply"):
            await restore(client, tmp_path / "bad.db")
        assert not (tmp_path / "bad.db").exists()

    asyncio.run(main())


@pytest.mark.parametrize("replica", ["file", "memory"])
def test_files_above_the_small_file_bound_are_streamed(tmp_path, replica, monkeypatch):
    monkeypatch.setattr(restore_mod, "SMALL_FILE", 2 * PAGE)
    monkeypatch.setattr(restore_mod, "_WRITE_RUN", 3)  # runs of pages split, too

    async def main():
        client = file_client(tmp_path / "replica") if replica == "file" else MemoryReplicaClient()
        chain = await make_history(tmp_path, n=8, client=client)
        sizes = [f.size for f in (await restore_mod.build_plan(client)).files]
        assert min(sizes) <= 2 * PAGE < max(sizes)  # both kinds in one restore
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        await restore(client, out_dir / "out.db", parallelism=3)
        assert (out_dir / "out.db").read_bytes() == chain.states[chain.txid]
        assert leftovers(out_dir) == ["out.db"]

    asyncio.run(main())


def test_cancelled_restore_stops_its_worker_and_leaves_nothing(tmp_path, monkeypatch):
    applied: list[int] = []
    real_apply = restore_mod._Applier.apply

    def slow_apply(self, src, info):
        applied.append(info.max_txid)
        time.sleep(0.05)
        real_apply(self, src, info)

    monkeypatch.setattr(restore_mod._Applier, "apply", slow_apply)

    async def main():
        chain = await file_history(tmp_path, n=12)
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        task = asyncio.create_task(restore(chain.client, out_dir / "out.db"))
        while not applied:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        count = len(applied)
        assert count < len(chain.states)
        await asyncio.sleep(0.2)
        assert len(applied) == count  # the worker stopped, it does not write on
        assert leftovers(out_dir) == []

    asyncio.run(main())


def test_only_backends_declaring_local_files_are_read_directly(tmp_path):
    class Wrapped(FileReplicaClient):
        """A plugin's subclass may change what reading a file means."""

    pm = get_plugin_manager(only={"file"})
    assert as_local_replica(make_replica_client(f"file://{tmp_path}", pm=pm)) is not None
    assert as_local_replica(Wrapped(tmp_path)) is None
    assert as_local_replica(MemoryReplicaClient()) is None


class _BreakingClient(MemoryReplicaClient):
    """Streams that stop after ``cut`` bytes: with a transient error ``drops`` times
    (to be resumed), or for good with ``fatal``, or by hanging with ``stall``."""

    def __init__(self, store, *, drops=0, fatal=False, stall=False, cut=300) -> None:
        super().__init__(store)
        self.drops, self.fatal, self.stall, self.cut = drops, fatal, stall, cut
        self.offsets: list[int] = []

    async def open_ltx_file(self, level, min_txid, max_txid, *, offset=0, size=0):
        self.offsets.append(offset)
        stream = await super().open_ltx_file(level, min_txid, max_txid, offset=offset, size=size)
        broken = self.fatal or self.stall or self.drops > 0
        if not broken or min_txid == 1:
            return stream
        self.drops -= 1
        outer, real_read = self, stream.read

        async def read(n=-1):
            if stream._pos >= outer.cut:
                if outer.stall:
                    await asyncio.Event().wait()
                error = ReplicaClientError if outer.fatal else TransientReplicaError
                raise error("connection reset", op="read")
            return await real_read(min(n, outer.cut - stream._pos) if n > 0 else outer.cut)

        stream.read = read
        return stream


async def _stream_everything(tmp_path, monkeypatch, **kw):
    monkeypatch.setattr(restore_mod, "SMALL_FILE", 0)  # every file streamed
    chain = await make_history(tmp_path, n=6)
    client = _BreakingClient(chain.client.store, **kw)
    await client.init()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    return chain, client, out_dir


def test_streamed_download_resumes_where_it_broke(tmp_path, monkeypatch):
    async def main():
        chain, client, out_dir = await _stream_everything(tmp_path, monkeypatch, drops=2)
        await restore(client, out_dir / "out.db", parallelism=1)
        assert (out_dir / "out.db").read_bytes() == chain.states[chain.txid]
        assert 300 in client.offsets  # resumed at the offset reached, not restarted

    asyncio.run(main())


def test_streamed_download_failure_is_reported_and_leaves_nothing(tmp_path, monkeypatch):
    async def main():
        _, client, out_dir = await _stream_everything(tmp_path, monkeypatch, fatal=True)
        with pytest.raises(ReplicaClientError, match="connection reset"):
            await asyncio.wait_for(restore(client, out_dir / "out.db"), 30)
        assert leftovers(out_dir) == []

    asyncio.run(main())


def test_cancel_while_a_streamed_download_hangs(tmp_path, monkeypatch):
    async def main():
        _, client, out_dir = await _stream_everything(tmp_path, monkeypatch, stall=True)
        task = asyncio.create_task(restore(client, out_dir / "out.db"))
        await asyncio.sleep(0.3)
        assert not task.done()  # waiting on the stalled stream
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert leftovers(out_dir) == []

    asyncio.run(main())
