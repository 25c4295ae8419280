"""Replica histories built from a real SQLite database, and an independent restore.

Not a test module: the compaction, retention, verify and ``ltx`` CLI tests import it
(``sys.path`` is extended to this directory by each of them). Every state of the
database is kept, so a restore to any TXID can be compared byte for byte.

The restore here is deliberately independent of the engine under test: it finds
paths by breadth-first search over all files and applies pages with the codec's
decoder, so a bug in the compactor's own chain logic cannot hide itself.
"""

from __future__ import annotations

import heapq
import io
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from litestream_core.client import SNAPSHOT_LEVEL, LTXFileInfo, ReplicaClient
from litestream_core.ltx import (
    HEADER_FLAG_NO_CHECKSUM,
    Decoder,
    Header,
    database_checksum,
    encode_file,
    lock_pgno,
)
from litestream_core.testing.ltxgen import timestamp_to_datetime

START_MS = 1_750_000_000_000


def db_pages(data: bytes, page_size: int) -> list[tuple[int, bytes]]:
    lock = lock_pgno(page_size)
    return [
        (i // page_size + 1, data[i : i + page_size])
        for i in range(0, len(data), page_size)
        if i // page_size + 1 != lock
    ]


@dataclass
class History:
    """A SQLite database written one transaction at a time, each one an L0 LTX file."""

    path: Path
    page_size: int = 4096
    blob_max: int = 6000
    checksums: bool = False
    """Go 0.5 (and so we) write files without database checksums; tests of the chain
    checks turn them on."""
    states: dict[int, bytes] = field(default_factory=dict)
    times: dict[int, int] = field(default_factory=dict)
    files: dict[int, bytes] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def __post_init__(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=DELETE")
        self.conn.execute(f"PRAGMA page_size={self.page_size}")
        self.conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")

    @property
    def txid(self) -> int:
        return max(self.states, default=0)

    def timestamp(self, txid: int) -> datetime:
        return timestamp_to_datetime(self.times[txid])

    def write(self, n: int = 1, *, step_ms: int = 1000, at_ms: int | None = None) -> list[int]:
        """Commit ``n`` mixed transactions ``step_ms`` apart (the first at ``at_ms``)."""
        out = []
        for _ in range(n):
            self._one_transaction()
            out.append(self._capture(step_ms, at_ms))
            at_ms = None
        return out

    def _one_transaction(self) -> None:
        r = self.rng.random()
        c = self.conn
        if r < 0.6 or self.txid < 3:
            c.execute(
                "INSERT INTO t (v) VALUES (?)",
                (self.rng.randbytes(self.rng.randint(10, self.blob_max)),),
            )
        elif r < 0.85:
            c.execute(
                "UPDATE t SET v = ? WHERE id = (SELECT id FROM t ORDER BY random() LIMIT 1)",
                (self.rng.randbytes(self.rng.randint(10, 300)),),
            )
        elif r < 0.97:
            c.execute("DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 3)")
        else:
            c.execute("VACUUM")

    def _capture(self, step_ms: int, at_ms: int | None) -> int:
        data = self.path.read_bytes()
        txid = self.txid + 1
        prev = self.states.get(txid - 1)
        pages = db_pages(data, self.page_size)
        if prev is None:
            changed = pages
            pre = 0
        else:
            old = dict(db_pages(prev, self.page_size))
            changed = [(p, d) for p, d in pages if old.get(p) != d]
            pre = database_checksum(db_pages(prev, self.page_size)) if self.checksums else 0
        ts = at_ms or (self.times[txid - 1] + step_ms if self.times else START_MS)
        header = Header(
            page_size=self.page_size,
            commit=len(data) // self.page_size,
            min_txid=txid,
            max_txid=txid,
            timestamp=ts,
            pre_apply_checksum=pre if self.checksums else 0,
            flags=0 if self.checksums else HEADER_FLAG_NO_CHECKSUM,
        )
        post = database_checksum(pages) if self.checksums else 0
        self.files[txid] = encode_file(header, changed, post)
        self.states[txid] = data
        self.times[txid] = ts
        return txid

    async def upload(self, client: ReplicaClient, txids: Sequence[int]) -> None:
        for txid in txids:
            await client.write_ltx_file(0, txid, txid, self.files[txid])

    def snapshot_file(self, txid: int) -> bytes:
        """A full snapshot of the state at ``txid`` (what DB.write_snapshot gives)."""
        pages = db_pages(self.states[txid], self.page_size)
        header = Header(
            page_size=self.page_size,
            commit=len(self.states[txid]) // self.page_size,
            min_txid=1,
            max_txid=txid,
            timestamp=self.times[txid],
            flags=0 if self.checksums else HEADER_FLAG_NO_CHECKSUM,
        )
        return encode_file(header, pages, database_checksum(pages) if self.checksums else 0)

    def close(self) -> None:
        self.conn.close()


async def all_files(client: ReplicaClient) -> list[LTXFileInfo]:
    out = []
    for level in range(SNAPSHOT_LEVEL + 1):
        out += [f async for f in client.ltx_files(level, use_metadata=True)]
    return out


def reachable(files: Sequence[LTXFileInfo]) -> dict[int, list[LTXFileInfo]]:
    """Every reachable TXID with one path of files to it (breadth-first, independent)."""
    paths: dict[int, list[LTXFileInfo]] = {}
    heap: list[int] = []
    for f in files:
        if f.min_txid == 1 and f.max_txid not in paths:
            paths[f.max_txid] = [f]
            heapq.heappush(heap, f.max_txid)
    done: set[int] = set()
    while heap:
        x = heapq.heappop(heap)
        if x in done:
            continue
        done.add(x)
        for f in files:
            if f.min_txid <= x + 1 and f.max_txid > x and f.max_txid not in paths:
                paths[f.max_txid] = [*paths[x], f]
                heapq.heappush(heap, f.max_txid)
    return paths


Decoded = dict[tuple[int, int, int, int], tuple[Header, list[tuple[int, bytes]]]]


async def apply_files(
    client: ReplicaClient, path: Sequence[LTXFileInfo], cache: Decoded | None = None
) -> bytes:
    """The database a sequence of files gives, applied page by page with the decoder."""
    cache = {} if cache is None else cache
    pages: dict[int, bytes] = {}
    page_size = commit = 0
    for info in path:
        key = (info.level, info.min_txid, info.max_txid, info.size)
        if key not in cache:
            stream = await client.open_ltx_file(info.level, info.min_txid, info.max_txid)
            async with stream:
                data = await stream.readall()
            dec = Decoder(io.BytesIO(data))
            cache[key] = (dec.header, list(dec.pages()))
        header, file_pages = cache[key]
        pages.update(file_pages)
        page_size, commit = header.page_size, header.commit
        for pgno in [p for p in pages if p > commit]:
            del pages[pgno]
    out = bytearray(commit * page_size)
    for pgno, page in pages.items():
        out[(pgno - 1) * page_size : pgno * page_size] = page
    return bytes(out)


async def assert_points_exact(client: ReplicaClient, history: History) -> dict[int, list]:
    """Every reachable TXID restores to exactly the recorded state; returns the paths."""
    paths = reachable(await all_files(client))
    cache: Decoded = {}
    for txid, path in paths.items():
        assert await apply_files(client, path, cache) == history.states[txid], f"TXID {txid}"
    return paths
