"""Merge consecutive LTX files into one, streaming: one buffered page per input."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from litestream_core.compression import BUILTIN_CODECS, PageCodecs
from litestream_core.errors import ChecksumMismatchError, LTXFormatError
from litestream_core.ltx.decoder import Decoder
from litestream_core.ltx.encoder import Encoder
from litestream_core.ltx.header import HEADER_FLAG_NO_CHECKSUM, Header


def compact(inputs: Sequence[BinaryIO], out: BinaryIO, codecs: PageCodecs | None = None) -> Header:
    """Merge ``inputs`` (ordered by TXID) into one LTX file written to ``out``.

    Inputs are read with the codec each names; the output is written with
    ``codecs.write`` (LZ4 when None).

    The newest version of each page wins and pages past the final commit are dropped.
    Every input is fully verified while merging; if any fails, the error propagates and
    whatever was written to ``out`` must be discarded.

    The header takes the *last* input's timestamp, as Go's ltx v0.5.2 compactor does.
    Point-in-time restore picks files whose timestamp is at or before the target; the
    earliest input's time would let a restore to that moment apply later transactions
    of the same merged file, restoring past the requested time.
    """
    if not inputs:
        raise LTXFormatError("LTX compaction needs at least one input file")
    codecs = codecs or BUILTIN_CODECS
    decoders = [Decoder(src, codecs) for src in inputs]
    headers = [dec.header for dec in decoders]
    _check_chain(headers)
    first, last = headers[0], headers[-1]
    no_checksum = any(h.no_checksum for h in headers)
    header = Header(
        page_size=first.page_size,
        commit=last.commit,
        min_txid=first.min_txid,
        max_txid=last.max_txid,
        timestamp=last.timestamp,
        pre_apply_checksum=0 if no_checksum else first.pre_apply_checksum,
        flags=HEADER_FLAG_NO_CHECKSUM if no_checksum else 0,
    )
    enc = Encoder(out, header, codecs.write)
    for pgno, data in _merge(decoders):
        if pgno <= header.commit:
            enc.write_page(pgno, data)
    last_post = decoders[-1].trailer.post_apply_checksum
    enc.finish(0 if no_checksum else last_post)
    return enc.header


def _check_chain(headers: list[Header]) -> None:
    for i, (prev, cur) in enumerate(itertools.pairwise(headers), start=1):
        if cur.page_size != prev.page_size:
            raise LTXFormatError(
                f"LTX compaction input {i} has page size {cur.page_size}, "
                f"previous has {prev.page_size}"
            )
        # Go's IsContiguous: may overlap the previous range but must extend it.
        if cur.min_txid > prev.max_txid + 1 or cur.max_txid <= prev.max_txid:
            raise LTXFormatError(
                f"LTX compaction inputs not contiguous: {prev.min_txid:016x}-{prev.max_txid:016x} "
                f"then {cur.min_txid:016x}-{cur.max_txid:016x}"
            )


def _merge(decoders: list[Decoder]) -> Iterator[tuple[int, bytes]]:
    """Yield each page number once, from the newest input holding it.

    Every input iterator is driven to its end so each file's trailer is verified
    before the compacted file is finished.
    """
    iters = [dec.pages() for dec in decoders]
    heap: list[tuple[int, int, bytes]] = []
    for i, it in enumerate(iters):
        _push_next(heap, it, i)
    while heap:
        pgno, neg_i, data = heapq.heappop(heap)
        _push_next(heap, iters[-neg_i], -neg_i)
        while heap and heap[0][0] == pgno:
            _, older, _ = heapq.heappop(heap)
            _push_next(heap, iters[-older], -older)
        yield pgno, data
    _check_links(decoders)


def _push_next(heap: list[tuple[int, int, bytes]], it: Iterator[tuple[int, bytes]], i: int) -> None:
    item = next(it, None)
    if item is not None:
        heapq.heappush(heap, (item[0], -i, item[1]))


def _check_links(decoders: list[Decoder]) -> None:
    """Each file must start from the state the previous one ended in, when both say."""
    for prev, cur in itertools.pairwise(decoders):
        ph, ch = prev.header, cur.header
        if ph.no_checksum or ch.no_checksum or ch.min_txid != ph.max_txid + 1:
            continue
        if ch.pre_apply_checksum != prev.trailer.post_apply_checksum:
            raise ChecksumMismatchError(
                f"LTX file {ch.min_txid:016x}-{ch.max_txid:016x} does not start where "
                f"{ph.min_txid:016x}-{ph.max_txid:016x} ended (checksum chain broken)"
            )
