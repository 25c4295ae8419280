"""A corpus of damaged replicas, built from real replication of two databases (no tests).

``build_sources`` replicates two databases with the engine (the application is a
stdlib ``sqlite3`` connection in another process, our checkpoints restart the WAL on
the way), recording the database image at every TXID. ``CASES`` then damages copies of
the first one's file replica in the ways a replica goes bad: truncation, flipped bytes
in header, pages and trailer, a lost file, the other database's files in the middle or
appended, files with wrong or garbage names, a damaged or foreign identity object. A
whole database of another database is not in ``CASES``: nothing in the files tells it
from the snapshot a replicator writes after losing its position, so a restore that ends
on it gives that database (docs/restore-safety.md; the replica identity keeps one from
being written); ``as_txid`` makes one for the test that pins this down.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from litestream_file.client import FileReplicaClient

from litestream_core.engine.compaction import Compactor
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.identity import IDENTITY_LEVEL
from litestream_core.engine.replica import Replica
from litestream_core.ltx import decode_file, encode_file

sys.path.insert(0, str(Path(__file__).parent.parent))
from test_engine_db_support import AppProcess, write_mixed

IDENTITY = Path("ltx") / str(IDENTITY_LEVEL) / f"{1:016x}-{1:016x}.ltx"


@dataclass
class Source:
    """A replicated database: its file replica and its image at every TXID."""

    name: str
    replica: Path
    states: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def newest(self) -> int:
        return max(self.states)

    def l0(self, txid: int) -> Path:
        return _l0(self.replica, txid)


async def _replicate(workdir: Path, name: str, steps: int, checkpoint_at: set[int]) -> Source:
    path = workdir / f"{name}.db"
    source = Source(name, workdir / f"{name}-replica")
    app = AppProcess(path, autocheckpoint=0)
    db = DB(path, DBSettings(min_checkpoint_page_count=1 << 30))
    replica = Replica(db, FileReplicaClient(source.replica))
    try:
        await replica.probe()
        await db.open()
        await replica.start()
        for step in range(steps):
            write_mixed(app, step)
            await db.sync()
            await replica.sync()
            source.states[db.pos().txid] = app.serialize()
            if step in checkpoint_at:  # the next file starts a restarted WAL
                await db.checkpoint("TRUNCATE")
                await db.sync()
                await replica.sync()
                source.states[db.pos().txid] = app.serialize()
    finally:
        await db.close()
        await replica.stop()
        app.close()
    return source


def build_sources(workdir: Path) -> tuple[Source, Source]:
    """Database A (the victim) and database B (whose files get mixed in), B longer."""

    async def both() -> tuple[Source, Source]:
        a = await _replicate(workdir, "a", 10, {4})
        b = await _replicate(workdir, "b", 16, {7})
        return a, b

    return asyncio.run(both())


def compact_copy(src: Path, dst: Path) -> None:
    """A copy of a replica with its L0 files compacted into L1 and an L9 snapshot."""
    shutil.copytree(src, dst)

    async def compact() -> None:
        client = FileReplicaClient(dst)
        comp = Compactor(client)
        await comp.compact(1)
        await comp.snapshot(force=True)

    asyncio.run(compact())


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x5A
    path.write_bytes(bytes(data))


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


Damage = Callable[[Path, Source, Source], None]
"""Damages the replica copy at the first argument (of source A; B is the other database)."""


def _middle(a: Source) -> int:
    return a.newest // 2 + 1


def _l0(replica: Path, txid: int) -> Path:
    return replica / "ltx" / "0" / f"{txid:016x}-{txid:016x}.ltx"


def as_txid(src: Path, dst: Path, txid: int) -> None:
    """``src`` (a valid LTX file) re-encoded under another TXID, valid in every byte: a
    whole database written by another database's replicator after it lost its position."""
    header, pages, trailer = decode_file(src.read_bytes())
    moved = replace(header, min_txid=txid, max_txid=txid)
    dst.write_bytes(encode_file(moved, pages, trailer.post_apply_checksum))


def _to_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


CASES: dict[str, Damage] = {
    "truncated newest file": lambda r, a, b: _truncate(_l0(r, a.newest), 0.6),
    "truncated middle file": lambda r, a, b: _truncate(_l0(r, _middle(a)), 0.3),
    "truncated to a header": lambda r, a, b: _to_header(_l0(r, _middle(a))),
    "flipped byte in header": lambda r, a, b: _flip(_l0(r, _middle(a)), 22),
    "flipped byte in header timestamp": lambda r, a, b: _flip(_l0(r, _middle(a)), 40),
    "flipped byte in page data": lambda r, a, b: _flip(_l0(r, _middle(a)), 150),
    "flipped byte in trailer": lambda r, a, b: _flip(_l0(r, _middle(a)), -3),
    "flipped byte in snapshot": lambda r, a, b: _flip(_l0(r, 1), 4000),
    "missing middle file": lambda r, a, b: _l0(r, _middle(a)).unlink(),
    "foreign file in the middle": lambda r, a, b: shutil.copy(b.l0(_middle(a)), _l0(r, _middle(a))),
    "foreign file at the next TXID": lambda r, a, b: shutil.copy(
        b.l0(a.newest + 1), _l0(r, a.newest + 1)
    ),
    "file renamed to another TXID": lambda r, a, b: shutil.copy(a.l0(3), _l0(r, a.newest + 1)),
    "garbage under an LTX name": lambda r, a, b: _l0(r, a.newest + 1).write_bytes(b"junk" * 50),
    "foreign identity": lambda r, a, b: shutil.copy(b.replica / IDENTITY, r / IDENTITY),
    "damaged identity": lambda r, a, b: _flip(r / IDENTITY, 150),
}


def _junk_names(r: Path, a: Source, b: Source) -> None:
    """Files that are not ours, under names no listing takes for an LTX file."""
    level0 = r / "ltx" / "0"
    (level0 / "garbage.ltx").write_bytes(b"junk")
    (level0 / f"{1:016x}-{2:016x}.ltx.tmp").write_bytes(b"half a file")
    (level0 / "0000000000000zz-0000000000000zz.ltx").write_bytes(b"junk")
    (r / "ltx" / "notalevel").mkdir()
    (r / "ltx" / "notalevel" / "x.ltx").write_bytes(b"junk")


HEALTHY: dict[str, Damage] = {
    "as replicated": lambda r, a, b: None,
    "with junk names beside the files": _junk_names,
    "without an identity (as Go writes it)": lambda r, a, b: (r / IDENTITY).unlink(),
}
