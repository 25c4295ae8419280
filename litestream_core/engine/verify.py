"""Prove a replica restorable: every file sound, every chain consistent, which points remain.

Go Litestream has no such check; a broken replica is found at restore time, when it is
too late. Verification reads every file once and keeps only a checksum per page, so the
database states along the chains are followed exactly (the database checksum is the
XOR of page checksums) in memory proportional to the page count, not the data:

1. every file decodes with a valid file checksum, and its header matches its name;
2. a walk from the oldest snapshot applies, at each step, the file that advances least
   (so it stops at every state some chain can reach), restarting from a later snapshot
   where nothing leads on; each state reached is a restorable point in time;
3. at every state reached, the computed database checksum must equal the post-apply
   checksum of every file ending there and the pre-apply checksum of every file
   starting right after (files written with Go's "no checksum" flag make no claim);
4. every file the walk did not take (a compacted file beside its sources, a second
   snapshot) is applied to the walk's state where it can start, and its result must
   equal what the walk computes where it ends: compacted levels and snapshots are
   proven to hold the same database as the chain they replace;
5. every restorable state has every page up to its commit size written by some file
   since the last whole-database file, and consecutive L0 files continue each other's
   WAL (``continuity.py``): the checks restore makes, so whatever restore refuses,
   verify reports first (an L0 file stamped before the one it follows is a warning:
   a clock stepped back, which makes restores by time near it ambiguous);
6. the replica identity, if any, is readable and names the replica's own files.

The replica is broken if a file is unreadable, a checksum disagrees, a check of 5 or
6 fails, or the newest TXID cannot be reached. Gaps inside a level that a snapshot
bridges are warnings: the engine creates them on purpose after a lost position. A
healthy replica has stretches no chain joins (retention leaves old snapshots alone,
and files older than the oldest snapshot until they expire): those are counted, not
warned about; every snapshot is a restorable point of its own.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import tempfile
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo, ReplicaClient
from litestream_core.compression import PageCodecs
from litestream_core.engine.chain import list_levels
from litestream_core.engine.continuity import wal_break, whole_database_pages
from litestream_core.engine.identity import ReplicaIdentity, fingerprint_problem, read_identity
from litestream_core.engine.streams import download
from litestream_core.errors import IdentityError, LTXError
from litestream_core.ltx import CHECKSUM_FLAG, Decoder, Header, Trailer, lock_pgno, page_checksum

_MASK = ~CHECKSUM_FLAG
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_IN_MEMORY = 8 << 20
"""Files up to this size are verified from memory; larger ones spool to a temp file."""


@dataclass(frozen=True, slots=True)
class RestorablePoint:
    """A database state a restore can reach exactly."""

    txid: int
    timestamp: datetime


@dataclass
class VerifyReport:
    """What :func:`verify_replica` found; ``problems`` empty means the replica is sound."""

    files: dict[int, list[LTXFileInfo]] = field(default_factory=dict)
    points: list[RestorablePoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchecksummed_files: int = 0
    unreachable_files: int = 0
    identity: ReplicaIdentity | None = None
    ranges: list[tuple[RestorablePoint, RestorablePoint]] = field(default_factory=list)
    """First and last point of each run of states one chain joins (a snapshot no
    chain reaches is a run of its own), in TXID order."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def max_txid(self) -> int:
        return max((f.max_txid for fs in self.files.values() for f in fs), default=0)


@dataclass(slots=True)
class _Summary:
    """A decoded file reduced to what the walk needs: header, trailer, page checksums.

    Page numbers and checksums are kept in typed arrays (12 bytes a page), so even the
    snapshots of a large database stay small in memory.
    """

    info: LTXFileInfo
    header: Header
    trailer: Trailer
    pgnos: array[int]
    sums: array[int]

    @property
    def claims(self) -> bool:
        return not self.header.no_checksum

    @property
    def label(self) -> str:
        return f"L{self.info.level} {self.info.name}"


class _State:
    """Page checksums of one database state by page number (0: no page), and their XOR.

    XOR with 0 changes nothing, so an absent page and a page whose checksum bits happen
    to be 0 count the same, as they do in the database checksum itself.
    """

    def __init__(self) -> None:
        self.pages: array[int] = array("Q", [0])
        self.acc = 0

    @property
    def checksum(self) -> int:
        return CHECKSUM_FLAG | self.acc

    def reset(self, summary: _Summary) -> None:
        self.pages, self.acc = array("Q", [0]), 0
        self.apply(summary)

    def first_missing(self, page_size: int) -> int | None:
        """The lowest page up to the commit size no file wrote (as restore checks)."""
        pages, lock = self.pages, lock_pgno(page_size)
        start = 1
        while True:
            try:
                pgno = pages.index(0, start)
            except ValueError:
                return None
            if pgno != lock:
                return pgno
            start = pgno + 1

    def apply(self, summary: _Summary) -> None:
        commit = summary.header.commit
        pages, acc = self.pages, self.acc
        if len(pages) <= commit:
            pages.frombytes(bytes(8 * (commit + 1 - len(pages))))
        for pgno, cs in zip(summary.pgnos, summary.sums, strict=True):
            acc ^= pages[pgno] ^ cs
            pages[pgno] = cs
        for pgno in range(commit + 1, len(pages)):
            acc ^= pages[pgno]
        del pages[commit + 1 :]
        self.acc = acc

    def predict(self, summary: _Summary) -> int:
        """The checksum ``summary`` would give applied here, leaving this state as it is."""
        if summary.header.is_snapshot:
            acc = 0
            for cs in summary.sums:
                acc ^= cs
            return CHECKSUM_FLAG | acc
        pages, acc, size = self.pages, self.acc, len(self.pages)
        for pgno, cs in zip(summary.pgnos, summary.sums, strict=True):
            acc ^= (pages[pgno] if pgno < size else 0) ^ cs
        for pgno in range(summary.header.commit + 1, size):
            acc ^= pages[pgno]  # truncated away (a file never holds pages past its commit)
        return CHECKSUM_FLAG | acc


async def verify_replica(client: ReplicaClient, codecs: PageCodecs | None = None) -> VerifyReport:
    """Read every file of the replica and prove which states it can restore.

    ``codecs`` are the page codecs files may name (LZ4 only when None).
    """
    report = VerifyReport(files=await list_levels(client, use_metadata=True))
    every = [f for level in sorted(report.files) for f in report.files[level]]
    if not every:
        report.problems.append("replica has no LTX files")
        return report
    try:
        report.identity = await read_identity(client)
    except (IdentityError, LTXError) as exc:
        report.problems.append(exc.one_line())
    if report.identity is not None and (
        problem := await fingerprint_problem(client, report.identity)
    ):
        report.problems.append(problem)
    _check_levels(report)
    summaries: list[_Summary] = []
    for info in every:
        try:
            summaries.append(await _summarize(client, info, codecs))
        except LTXError as exc:
            report.problems.append(f"L{info.level} {info.name} is unreadable: {exc.one_line()}")
    report.unchecksummed_files = sum(1 for s in summaries if not s.claims)
    if len(summaries) == len(every):
        _check_l0_neighbours(summaries, report)
        await asyncio.to_thread(_walk, summaries, report)
    return report


def _check_l0_neighbours(summaries: list[_Summary], report: VerifyReport) -> None:
    """Every L0 file must be able to follow the L0 file ending right before it; one
    stamped earlier than that file is worth a warning."""
    level0 = sorted(
        (s for s in summaries if s.info.level == 0),
        key=lambda s: (s.info.min_txid, s.info.max_txid),
    )
    for prev, cur in itertools.pairwise(level0):
        if cur.info.min_txid != prev.info.max_txid + 1:
            continue
        hdr = cur.header
        whole = len(cur.pgnos) == whole_database_pages(hdr.commit, hdr.page_size)
        if why := wal_break(prev.header, hdr, whole):
            report.problems.append(
                f"{cur.label} cannot follow {prev.label}: {why}; the replica holds files "
                "of another database"
            )
        elif (back := prev.header.timestamp - hdr.timestamp) > 0:
            # Not a refusal: a wall clock stepped back writes exactly this. But a restore
            # by time near it cannot tell which of the two came first.
            report.warnings.append(
                f"{cur.label} is stamped {back / 1000:g} s before {prev.label}, which it "
                "follows (a clock stepped back?): -timestamp restores near it are ambiguous"
            )


def _check_levels(report: VerifyReport) -> None:
    for level, files in sorted(report.files.items()):
        if level == SNAPSHOT_LEVEL:
            continue
        for prev, cur in itertools.pairwise(files):
            if cur.min_txid > prev.max_txid + 1:
                report.warnings.append(
                    f"level {level} has a gap: TXID {prev.max_txid + 1:016x} to "
                    f"{cur.min_txid - 1:016x} are in none of its files"
                )
            elif cur.min_txid <= prev.max_txid:
                report.warnings.append(f"level {level} files overlap: {prev.name} and {cur.name}")


async def _summarize(
    client: ReplicaClient, info: LTXFileInfo, codecs: PageCodecs | None
) -> _Summary:
    if info.size <= _IN_MEMORY:
        buf = io.BytesIO()
        await download(client, info, buf)
        buf.seek(0)
        return await asyncio.to_thread(_decode, info, buf, codecs)
    with tempfile.TemporaryFile() as spool:
        await download(client, info, spool)
        spool.seek(0)
        return await asyncio.to_thread(_decode, info, spool, codecs)


def _decode(info: LTXFileInfo, src: BinaryIO, codecs: PageCodecs | None) -> _Summary:
    dec = Decoder(src, codecs)
    pgnos, sums = array("I"), array("Q")
    for pgno, data in dec.pages():
        pgnos.append(pgno)
        sums.append(page_checksum(pgno, data) & _MASK)
    header = dec.header
    if (header.min_txid, header.max_txid) != (info.min_txid, info.max_txid):
        raise LTXError(
            f"header says TXID {header.min_txid:016x}-{header.max_txid:016x}, name says otherwise"
        )
    return _Summary(info, header, dec.trailer, pgnos, sums)


def _walk(summaries: list[_Summary], report: VerifyReport) -> None:
    """Follow every chain (see the module docstring); fills points, problems, warnings."""
    ends: dict[int, list[_Summary]] = {}
    starts: dict[int, list[_Summary]] = {}
    for s in summaries:
        ends.setdefault(s.info.max_txid, []).append(s)
        starts.setdefault(s.info.min_txid, []).append(s)
    bases = sorted(
        (s for s in summaries if s.header.is_snapshot),
        key=lambda s: (s.info.max_txid, -s.info.level),
    )
    if not bases:
        report.problems.append("replica has no snapshot: no state can be restored")
        return
    order = sorted(summaries, key=lambda s: s.info.min_txid)
    applied: set[int] = set()  # id() of the files the walk applied
    checked: set[int] = set()  # id() of the files applied beside the walk, to compare
    predictions: dict[int, list[tuple[_Summary, int]]] = {}
    active: list[_Summary] = []  # files that can be applied to the current state
    state = _State()
    step: _Summary | None = bases[0]
    state.reset(bases[0])
    applied.add(id(bases[0]))
    pos, nxt_index = bases[0].info.max_txid, 0
    page_size = bases[0].header.page_size
    runs: list[tuple[RestorablePoint, RestorablePoint]] = []
    restarted = False
    while step is not None:
        computed = state.checksum
        if step.header.is_snapshot:
            page_size = step.header.page_size
        elif step.header.page_size != page_size:
            report.problems.append(
                f"{step.label} has page size {step.header.page_size}, the database before "
                f"it {page_size}"
            )
        if (missing := state.first_missing(page_size)) is not None:
            report.problems.append(
                f"state at TXID {pos:016x} lacks page {missing}: no file since the last "
                "whole database wrote it, so its files do not belong to one database"
            )
        else:
            point = RestorablePoint(pos, _timestamp(step.header))
            report.points.append(point)
            if runs and not restarted:
                runs[-1] = (runs[-1][0], point)
            else:
                runs.append((point, point))
        restarted = False
        _check_claims(pos, computed, ends.get(pos, ()), starts.get(pos + 1, ()), report)
        for other in ends.get(pos, ()):  # another snapshot of this very state
            if other.header.is_snapshot and id(other) not in applied and id(other) not in checked:
                checked.add(id(other))
                predictions.setdefault(pos, []).append((other, state.predict(other)))
        for other, predicted in predictions.pop(pos, ()):
            if predicted != computed:
                report.problems.append(
                    f"{other.label} does not give the database the chain reaches at TXID "
                    f"{pos:016x} (checksum {predicted:016x}, chain {computed:016x})"
                )
        while nxt_index < len(order) and order[nxt_index].info.min_txid <= pos + 1:
            active.append(order[nxt_index])
            nxt_index += 1
        active = [s for s in active if s.info.max_txid > pos and id(s) not in applied]
        nxt = _least_advance(active, pos)
        # Every other file that can start here is checked against the walk later on; it
        # stays a candidate step should the walk need it to get past a gap.
        for other in active:
            if other is not nxt and id(other) not in checked:
                checked.add(id(other))
                predictions.setdefault(other.info.max_txid, []).append(
                    (other, state.predict(other))
                )
        if nxt is None:
            # Nothing leads on (retention, or a lost position the engine bridged with a
            # snapshot): restorable again from the next snapshot; ``ranges`` shows it.
            nxt = next((b for b in bases if b.info.max_txid > pos), None)
            if nxt is None:
                break
            state.reset(nxt)
            restarted = True
        else:
            state.apply(nxt)
        applied.add(id(nxt))
        pos, step = nxt.info.max_txid, nxt
    for txid, waiting in sorted(predictions.items()):
        for other, _ in waiting:
            if other.header.is_snapshot:
                # A snapshot is a whole database: restorable by itself (restore -txid
                # starts from it), though no chain reaches its TXID to compare with.
                point = RestorablePoint(txid, _timestamp(other.header))
                report.points.append(point)
                runs.append((point, point))
            else:
                report.warnings.append(
                    f"{other.label} leads to TXID {txid:016x}, which no chain reaches"
                )
    report.points.sort(key=lambda p: p.txid)
    report.ranges = sorted(runs, key=lambda r: r[0].txid)
    used = applied | checked
    # Files on no chain from a snapshot (older than the oldest one, left for retention
    # to remove, or past a break already reported as a problem) are only counted.
    report.unreachable_files = sum(1 for s in summaries if id(s) not in used)
    if not report.points:
        report.problems.append("no state of the replica can be restored")
        return
    newest = report.max_txid
    if report.points[-1].txid != newest:
        report.problems.append(
            f"newest TXID {newest:016x} cannot be restored: the chains stop at TXID "
            f"{report.points[-1].txid:016x}"
        )


def _least_advance(active: Iterable[_Summary], pos: int) -> _Summary | None:
    """The file that advances the least from ``pos``, so every reachable state is visited.

    Snapshots restart rather than advance, so they are never a step.
    """
    steps = [s for s in active if not s.header.is_snapshot]
    return min(
        steps,
        key=lambda s: (s.info.max_txid, s.info.min_txid != pos + 1, s.info.level),
        default=None,
    )


def _check_claims(
    pos: int,
    computed: int,
    ending: Iterable[_Summary],
    starting: Iterable[_Summary],
    report: VerifyReport,
) -> None:
    for s in ending:
        if s.claims and s.trailer.post_apply_checksum != computed:
            report.problems.append(
                f"{s.label} claims database checksum {s.trailer.post_apply_checksum:016x} "
                f"at TXID {pos:016x}, the chain gives {computed:016x}"
            )
    for s in starting:
        if s.claims and not s.header.is_snapshot and s.header.pre_apply_checksum != computed:
            report.problems.append(
                f"{s.label} expects database checksum {s.header.pre_apply_checksum:016x} "
                f"before TXID {pos + 1:016x}, the chain gives {computed:016x}"
            )


def _timestamp(header: Header) -> datetime:
    return _EPOCH + timedelta(milliseconds=header.timestamp)
