"""Plain values shared by the database monitor's modules (re-exported by ``engine.db``)."""

from __future__ import annotations

from dataclasses import dataclass

from litestream_core.compression import BUILTIN_CODECS, PageCodecs


@dataclass(frozen=True)
class DBSettings:
    """Per-database knobs; defaults are Go Litestream's."""

    monitor_interval: float = 1.0
    checkpoint_interval: float = 60.0
    """Seconds between PASSIVE checkpoints when data was synced; 0 disables."""
    min_checkpoint_page_count: int = 1000
    truncate_page_n: int = 121359
    """WAL pages (by synced offset) that force a TRUNCATE checkpoint; 0 disables."""
    busy_timeout: float = 1.0
    max_sync_wal_bytes: int = 64 << 20
    """WAL bytes one sync step turns into an L0 file, at a commit boundary (0: no
    limit). A large backlog is caught up in several steps, and other work on the
    database (checkpoints, snapshots, closing) gets its turn between them, as in Go."""
    meta_path: str | None = None
    """Default ``<dir>/.<name>-litestream``, as Go's ``MetaPath``."""
    wake_interval: float = 0.02
    """How often the monitor looks for a new commit between ticks (a 48-byte read of
    SQLite's wal-index, no WAL scan), so commit-to-L0 lag stays far below the monitor
    interval. 0 disables it (ticks only), which suits thousands of mostly idle
    databases in one process."""
    ltx_checksums: bool = False
    """Record pre/post-apply database checksums in L0 files. Go writes none, and its
    ``restore`` rejects a file whose trailer has one, so this is off by default; turn it
    on only for replicas that this tool alone restores (then restores verify the whole
    chain)."""
    allow_app_checkpoints: bool = False
    """Beyond Go: release the read transaction between syncs, so the application's own
    ``wal_checkpoint(RESTART/TRUNCATE)`` does not wait for it, and after such a
    checkpoint write only the pages that changed (found by per-page checksums of the
    replicated state, kept in memory) instead of a full snapshot. See ``syncer``."""
    page_codecs: PageCodecs = BUILTIN_CODECS
    """Codecs local LTX files are read with, and the one new files are written with
    (the replica's ``compression``; LZ4, Go's, by default)."""


@dataclass(frozen=True)
class Pos:
    """Replication position: the newest TXID and the database checksum after it.

    ``post_apply_checksum`` is 0 when the file carries no checksum (Go's files, ours by
    default). ``Pos(0, 0)`` means nothing has been written yet.
    """

    txid: int
    post_apply_checksum: int
