"""Restoring what Go Litestream 0.3 left on a replica: ``generations/`` of LZ4 files.

Go 0.3 kept, per generation (a 16-hex-digit ID), full snapshots of the database file
(``snapshots/<index:08x>.snapshot.lz4``) and the WAL copied in segments
(``wal/<index:08x>_<offset:08x>.wal.lz4``), each LZ4-framed. A restore takes the newest
snapshot at or before the target time, then replays that generation's WAL from the
snapshot's index on: each WAL index's segments, concatenated, are a WAL file that
SQLite checkpoints into the database (SQLite checks every frame's checksum and salt).

Like Go 0.5, ``restore`` uses these files by itself when they are newer than the LTX
files, or reach closer to ``-timestamp``; time is the storage's time of each file,
which is what Go 0.5 judges them by. Backends offer the files through the optional
``SupportsLegacyLayout`` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import lz4.frame

from litestream_core.client import LegacyFileInfo, ReplicaClient, SupportsLegacyLayout
from litestream_core.engine.plan import list_files
from litestream_core.engine.restore import SIDECARS, output_in_use
from litestream_core.errors import RestoreError

_GENERATION = re.compile(r"^[0-9a-f]{16}$")
_SNAPSHOT = re.compile(r"^([0-9a-f]{8})\.snapshot\.lz4$")
_SEGMENT = re.compile(r"^([0-9a-f]{8})_([0-9a-f]{8,16})\.wal\.lz4$")
_WAL_HEADER = 32
_FRAME_HEADER = 24


@dataclass(frozen=True)
class Snapshot:
    generation: str
    index: int
    file: LegacyFileInfo


@dataclass(frozen=True)
class Segment:
    generation: str
    index: int
    offset: int
    file: LegacyFileInfo


@dataclass
class Generation:
    id: str
    snapshots: list[Snapshot] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class LegacyPlan:
    """A snapshot and the WAL segments replayed over it."""

    snapshot: Snapshot
    segments: tuple[Segment, ...]

    @property
    def updated_at(self) -> datetime:
        """When the newest file the plan uses was stored."""
        return max([self.snapshot.file.created_at, *(s.file.created_at for s in self.segments)])

    @property
    def position(self) -> str:
        """Go 0.3's notation: ``generation/index:offset`` of the end of the plan."""
        last = self.segments[-1] if self.segments else None
        if last is None:
            return f"{self.snapshot.generation}/{self.snapshot.index:08x}"
        return f"{last.generation}/{last.index:08x}:{last.offset:08x}"


@dataclass(frozen=True)
class LegacyRestoreResult:
    path: Path
    plan: LegacyPlan
    duration: float


def parse_listing(files: Sequence[LegacyFileInfo]) -> dict[str, Generation]:
    """Generations by ID, their snapshots by index and segments by (index, offset);
    anything that is not a v0.3 name is ignored, as Go does."""
    generations: dict[str, Generation] = {}
    for info in files:
        parts = info.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "generations" or not _GENERATION.match(parts[1]):
            continue
        gen = generations.setdefault(parts[1], Generation(parts[1]))
        if parts[2] == "snapshots" and (m := _SNAPSHOT.match(parts[3])):
            gen.snapshots.append(Snapshot(gen.id, int(m.group(1), 16), info))
        elif parts[2] == "wal" and (m := _SEGMENT.match(parts[3])):
            gen.segments.append(Segment(gen.id, int(m.group(1), 16), int(m.group(2), 16), info))
    for gen in generations.values():
        gen.snapshots.sort(key=lambda s: s.index)
        gen.segments.sort(key=lambda s: (s.index, s.offset))
    return generations


def plan_v03(generations: dict[str, Generation], timestamp: datetime | None) -> LegacyPlan | None:
    """The newest snapshot at or before ``timestamp`` (any generation, by storage time)
    and its generation's segments from its index on, up to ``timestamp``."""
    snapshots = sorted(
        (s for g in generations.values() for s in g.snapshots),
        key=lambda s: (s.file.created_at, s.generation, s.index),
    )
    if timestamp is not None:
        snapshots = [s for s in snapshots if s.file.created_at <= timestamp]
    if not snapshots:
        return None
    snapshot = snapshots[-1]
    segments = tuple(
        s for s in generations[snapshot.generation].segments
        if s.index >= snapshot.index and (timestamp is None or s.file.created_at <= timestamp)
    )  # fmt: skip
    return LegacyPlan(snapshot, segments)


async def choose_v03(
    client: ReplicaClient, timestamp: datetime | None, files: list[LegacyFileInfo] | None = None
) -> LegacyPlan | None:
    """The v0.3 plan when it is the better backup (Go 0.5's rule), else None.

    Without a time, v0.3 wins when its newest file is newer than every LTX file; with
    one, when it reaches closer to that time than the LTX files stamped by then.
    ``files`` is the client's v0.3 listing when the caller has it already.
    """
    if not isinstance(client, SupportsLegacyLayout):
        return None
    if files is None:
        files = await client.legacy_files()
    if not files:
        return None
    plan = plan_v03(parse_listing(files), timestamp)
    if plan is None:
        return None
    listing = await list_files(client, use_metadata=timestamp is not None)
    times = [f.created_at for level in listing.values() for f in level]
    if timestamp is not None:
        times = [t for t in times if t <= timestamp]
    return plan if not times or plan.updated_at > max(times) else None


async def restore_v03(
    client: ReplicaClient,
    plan: LegacyPlan,
    output: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    integrity_check: str = "none",
) -> LegacyRestoreResult:
    """Rebuild ``output`` from ``plan`` beside it; put it in place only when complete."""
    # restore's own steps for the output file, so both kinds of restore end the same way
    from litestream_core.engine.restore import _integrity_check, _put_in_place, _umask

    if not isinstance(client, SupportsLegacyLayout):
        raise RestoreError(f"the {client.type} backend cannot read v0.3 replicas")
    started = time.monotonic()
    target = Path(output).absolute()
    if not overwrite and (reason := output_in_use(target)):
        raise RestoreError(reason, hint="use -force to replace it")
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # as a newly created file, not mkstemp's 0600
    os.close(fd)
    tmp = Path(name)
    try:
        with open(tmp, "wb") as db:
            await _download(client, plan.snapshot.file, db)
        for index, segments in _by_index(plan):
            await _replay(client, tmp, index, segments)
        await asyncio.to_thread(_fsync, tmp)
        if integrity_check != "none":
            await asyncio.to_thread(_integrity_check, tmp, integrity_check)
        await asyncio.to_thread(_put_in_place, tmp, target, overwrite)
    finally:
        for path in (tmp, *(Path(f"{tmp}{s}") for s in SIDECARS)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return LegacyRestoreResult(target, plan, time.monotonic() - started)


def _by_index(plan: LegacyPlan) -> list[tuple[int, list[Segment]]]:
    """Segments grouped by WAL index, which must run on from the snapshot's without a gap."""
    groups: dict[int, list[Segment]] = {}
    for seg in plan.segments:
        groups.setdefault(seg.index, []).append(seg)
    expected = plan.snapshot.index
    for index in sorted(groups):
        if index != expected:
            raise RestoreError(
                f"v0.3 generation {plan.snapshot.generation}: WAL index {expected:08x} is "
                f"missing (next is {index:08x})"
            )
        expected += 1
    return sorted(groups.items())


async def _download(client: SupportsLegacyLayout, info: LegacyFileInfo, out: BinaryIO) -> int:
    """Decompress one LZ4-framed file into ``out``; returns the bytes written."""
    decompressor = lz4.frame.LZ4FrameDecompressor()
    written = 0
    stream = await client.open_legacy_file(info.path)
    async with stream:
        while chunk := await stream.read(1 << 20):
            try:
                data = decompressor.decompress(chunk)
            except RuntimeError as exc:
                if chunk.startswith(b"age-encryption.org/") and not written:
                    raise RestoreError(
                        f"v0.3 file {info.path} is encrypted with age",
                        hint="give the replica `age: {identities: [...]}` in the config to read it",
                    ) from None
                raise RestoreError(f"v0.3 file {info.path} is not valid LZ4: {exc}") from None
            await asyncio.to_thread(out.write, data)
            written += len(data)
    if not decompressor.eof:
        raise RestoreError(f"v0.3 file {info.path} is truncated")
    return written


async def _replay(client: ReplicaClient, db: Path, index: int, segments: list[Segment]) -> None:
    """Write one WAL index beside ``db`` from its segments and checkpoint it in."""
    assert isinstance(client, SupportsLegacyLayout)
    wal = Path(f"{db}-wal")
    offset = 0
    with open(wal, "wb") as out:
        for seg in segments:
            if seg.offset != offset:
                raise RestoreError(
                    f"v0.3 generation {seg.generation}: WAL segment {index:08x} at offset "
                    f"{offset:08x} is missing (next is {seg.offset:08x})"
                )
            offset += await _download(client, seg.file, out)
    await asyncio.to_thread(_checkpoint, db, wal, offset)


def _checkpoint(db: Path, wal: Path, wal_size: int) -> None:
    """Checkpoint the WAL into ``db``; every frame written must be in it.

    SQLite stops reading a WAL at the first frame whose checksum or salt is wrong, and
    ignores frames after the last commit, so a damaged segment would otherwise go
    unnoticed and restore an older state.
    """
    import apsw

    with open(db, "rb") as f:
        f.seek(16)
        raw = f.read(2)
    page_size = int.from_bytes(raw, "big") if len(raw) == 2 else 0
    page_size = 65536 if page_size == 1 else page_size
    frames = (wal_size - _WAL_HEADER) // (_FRAME_HEADER + page_size) if page_size else 0
    conn = apsw.Connection(str(db))
    try:
        busy, log, done = next(iter(conn.execute("PRAGMA wal_checkpoint(FULL)")))
    except apsw.Error as exc:
        raise RestoreError(f"v0.3 WAL replay failed: {exc}") from None
    finally:
        conn.close()
    if busy or done != log or (wal_size > _WAL_HEADER and log != frames):
        raise RestoreError(
            f"v0.3 WAL replay applied {done} of {frames} frames: a WAL segment is damaged"
        )
    with contextlib.suppress(FileNotFoundError):
        wal.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
