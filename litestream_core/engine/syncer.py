"""The blocking heart of the database monitor: WAL frames in, L0 LTX files out.

Position. In memory we keep a *cursor*: the WAL generation (its salts), the offset just
past the last commit frame we copied, the running WAL checksum there, and the database
size in pages. A sync continues from the cursor only when the WAL provably still holds
what we copied: same salts and the frame before the cursor still carries the checksum
we verified. Any other state is a lost position and gets a full snapshot at the next
TXID; never a gap, never a stale page.

The WAL changes generation (salts) only when it restarts after a complete checkpoint.
While our read transaction is open nobody else can restart it, so the only accepted
restart is the one right after *our own* checkpoint, and only when we can prove no
commit slipped in before it (see ``_checkpoint``). A generation change seen at start-up
(the application's auto-checkpoint ran while we were down) is always a snapshot: the
old generation may have held commits we never saw. Go continues in that case when the
new generation's frames do not reach the last frame it copied, which is the corruption
its users report after SIGKILL plus auto-checkpoint.

After a process restart the cursor is rebuilt from the newest L0 file's header (WAL
offset, size, salts): the whole chain from the WAL header to that offset must verify,
end on a commit frame, and the last frame's page must be the one stored in that file.

Idle. A monitor tick first takes a ``ChangeToken`` (the wal-index header SQLite
rewrites on every commit, the WAL's size and mtime, the database file's identity and
mtime: a few syscalls on descriptors we hold, no thread). When it equals the token of
the last clean sync and no checkpoint is due, nothing can have changed and the tick
does no work at all.

Replaced database. The database file we hold is compared with the one at the path
before every sync. Deleted, or a different file (recreated, ``mv``-replaced): our
connections to the old file are closed, and once a database exists at the path again
it is replicated from a full snapshot at the next TXID, so no page of the old file
is mixed in. The old file's ``-wal`` and ``-shm``, if still at the path, would pair
with the new file in every SQLite that opens it; when no other process uses them we
let SQLite checkpoint them into the old file and remove them as it closes, and we
never open the new file while they are there.

Snapshots for the replica read the database without the lock, so syncs go on during
a long snapshot; only checkpoints (which could restart the WAL under the reader) and
closing wait for it.

Application checkpoints (``allow_app_checkpoints``, beyond Go). Held between syncs,
our read transaction makes every ``wal_checkpoint(RESTART/TRUNCATE)`` of the
application wait its busy timeout and fail. With this setting the transaction is
released at the end of every sync that leaves nothing pending (and no snapshot is
reading), and taken again at the start of the next one. What that gives up, and why
each case stays exact:

* Commits landing after our last read, in the same generation, are read by the next
  sync as usual: the cursor check (same salts, same checksum before the cursor) proves
  the WAL still holds what we copied. The application may have copied later frames
  into the database file meanwhile. Pages found in a frame up to the end we read come
  from that frame, so only pages the database grows by without a frame of this
  generation are read from the file; when a step that follows a release would take
  such a page and stops at ``max_sync_wal_bytes``, it reads to the WAL's end instead:
  the database file then holds no frame beyond the end we read (checkpointers copy
  frames only up to the mark of the read transaction we just began, which is at or
  before that end), so those pages are exactly as of that end.
* A WAL restarted behind our back (new salts): the state we replicated is gone from
  the WAL, but ``PageSums`` holds a CRC-64 of every page of it. Under the new read
  transaction we read the database as a snapshot would (every frame of the current
  generation up to its last commit, the rest from the file: one consistent state, the
  argument of ``write_snapshot``) and write an incremental L0 file at the next TXID
  holding only the pages whose checksum differs, with ``commit`` the new size. The
  cursor then continues from the end of the frames we read, as after a snapshot: the
  file describes the database exactly at that commit frame, so frames after it are
  new and those before it are already in the file. Nothing of the earlier frames is
  assumed. A page is taken as unchanged when its CRC-64 (with its page number) equals
  the recorded one: a changed page is missed only on a collision, 2^-64 for a change
  not crafted against CRC-64. Without complete checksums (after a process restart, a
  failed write, a rebase) it is a full snapshot, as before. When SQLite gave the new
  WAL random salts rather than salt 1 plus its restarts (it does when it starts a WAL
  in an empty file), the file records no WAL position, or restore's continuity check
  (``continuity.wal_break``) would take it for another database's.
* A read transaction we just began may have read mark 0 (the WAL was fully copied into
  the database file). Such a reader holds the database file still, but one more WAL
  restart by the application's next writer can overwrite the frames we are about to
  read, and its TRUNCATE (nothing left to copy) can empty the WAL under us. A restart
  rewrites the WAL header before any frame, so every L0 file (and snapshot) checks
  after its last read, or after a read that came up short, that the WAL header still
  has the salts it read; if not, the file is dropped and the step retried at once
  under the same read transaction, which by then pins the new generation (its frames
  cannot be copied into the database file while our mark-0 reader holds, so it cannot
  restart again; an empty WAL first gets a frame of ours). A replica snapshot that
  meets this fails and is retried later. Without the check the chain does differ
  (``tests/test_engine_app_checkpoints.py`` provokes the restart mid-read).
* Our own checkpoint's promise that the next generation continues ours
  (``restart_ok``) holds only while our read transaction is open, so releasing it
  drops the promise: a later restart is treated as someone else's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from litestream_core.client import LTXFileInfo
from litestream_core.engine import checkpoint as ckpt
from litestream_core.engine import clock
from litestream_core.engine.continuity import SALT_RESTARTS
from litestream_core.engine.dbtypes import DBSettings, Pos
from litestream_core.engine.meta import MetaDir
from litestream_core.engine.replication_lock import ReplicationLock
from litestream_core.engine.snapshot import (
    PageReader,
    PageSums,
    snapshot_pages,
    write_changed_pages,
    write_pages,
)
from litestream_core.engine.sqlite import (
    Connections,
    DatabaseBusyError,
    check_database_file,
    is_busy,
    open_elsewhere_in_process,
    shm_used_by_other_process,
    wal_path,
)
from litestream_core.engine.stats import DBStats, counts_checkpoint, counts_sync
from litestream_core.engine.wal import (
    WAL_HEADER_SIZE,
    WALHeader,
    WALScan,
    frame_size,
    read_frame,
    scan_wal,
)
from litestream_core.errors import DatabaseError, LTXError
from litestream_core.events import (
    CHECKPOINT_SNAPSHOT,
    CheckpointCompleted,
    Event,
    LTXFileWritten,
    SnapshotWritten,
)
from litestream_core.logs import format_txid
from litestream_core.ltx import (
    HEADER_FLAG_NO_CHECKSUM,
    HEADER_SIZE,
    Decoder,
    Header,
    Trailer,
    lock_pgno,
    read_page,
    read_page_index,
)

log = logging.getLogger("litestream.db")

_MASK = 0xFFFFFFFF
_WAL_CHANGED = frozenset(
    {
        "WAL restarted by another process",
        "WAL truncated or overwritten by another process",
        "WAL overwritten by another process",
        CHECKPOINT_SNAPSHOT,
    }
)
"""Snapshot reasons that only say the WAL no longer leads from our position: with
checksums of every replicated page, a file of the changed pages does instead."""


class _WALMoved(Exception):
    """The WAL restarted while a file was being read from it: the file is dropped."""


@dataclass(frozen=True, slots=True)
class ChangeToken:
    """What a monitor tick compares to tell whether anything may have changed."""

    db: tuple[int, int, int] | None
    """(device, inode, mtime in ns) of the file at the database's path; None if absent."""
    wal_index: bytes = b""
    """The first wal-index header in ``-shm``: SQLite rewrites it on every commit."""
    wal: tuple[int, int] | None = None
    """(size, mtime in ns) of the WAL we read."""
    checked_at: float = field(default=0.0, compare=False)
    """Wall-clock time the token was taken (for time-based checkpoints)."""


@dataclass(slots=True)
class Cursor:
    salts: tuple[int, int]
    offset: int
    checksum: tuple[int, int]
    commit: int
    restart_ok: bool = False
    """Set by our own checkpoint: the next generation (salt1 + 1) continues this one."""


class Syncer:
    """Single-threaded by contract: every public method takes the same lock."""

    def __init__(self, path: Path, settings: DBSettings, meta: MetaDir) -> None:
        self.path = path
        self.wal_path = wal_path(path)
        self.settings = settings
        self.meta = meta
        self.lock = ReplicationLock(meta.root, path)
        self.mutex = threading.RLock()
        self._fd_lock = threading.Lock()
        self.events: list[Event] = []
        self._events_lock = threading.Lock()
        self.on_event: Callable[[], None] | None = None
        """Called from the worker thread when an L0 file is written during a checkpoint,
        so the loop can publish it before the checkpoint ends: that file is uploaded
        while the checkpoint runs (otherwise its commits wait for it)."""
        self._checkpointing = False
        self.stats = DBStats()
        self.page_size = 0
        self.pos = Pos(0, 0)
        self._conns: Connections | None = None
        self._db_file: BinaryIO | None = None
        self._wal_file: BinaryIO | None = None
        """The WAL SQLite writes to, held from connect to close (read by descriptor,
        so a file put at the path later is never mistaken for it)."""
        self._shm_fd = -1
        self._cursor: Cursor | None = None
        self._gen_pages: dict[int, int] = {}
        """Page -> newest committed frame offset in the current generation up to the cursor."""
        self._last_header: Header | None = None
        self._last_path: Path | None = None
        self._sums: PageSums | None = None
        self._snapshot_reason: str | None = None
        self.limited = False
        """The last ``sync`` stopped at ``max_sync_wal_bytes``: call it again."""
        self._synced_since_checkpoint = False
        self._closed = False
        self._idle_token: ChangeToken | None = None
        """Token taken before the last sync that left nothing to do."""
        self.open_files: frozenset[str] | None = None
        """Paths this process had open, listed once by a caller opening many databases."""
        self._gone: str | None = None
        """Why the file we replicated is no longer at the path ("deleted", "replaced")."""
        self._stale: list[BinaryIO] = []
        """The old file's -wal/-shm, still at the path after a replacement (held open so
        their inodes cannot be reused while we compare)."""
        self._readers = 0
        """Snapshots reading the database outside the lock."""
        self.keep_newest_l0 = 0
        """Up to this many bytes of the newest L0 file are kept in memory (0: none) for
        its upload (see ``newest_l0``)."""
        self._newest_l0: tuple[int, bytes] | None = None
        self._no_readers = threading.Condition(self.mutex)

    # -- opening ---------------------------------------------------------------------

    def open(self) -> None:
        """Validate and connect; a database locked by someone else is retried by sync."""
        with self.mutex:
            self.lock.acquire()  # before touching the meta dir another process may own
            try:
                self._closed = False
                self.meta.remove_tmp_files()
                self._load_position()
                try:
                    self._init()
                except DatabaseBusyError as exc:
                    log.warning("database is busy; retrying at the next sync",
                                extra={"db": str(self.path), "error": exc.one_line()})  # fmt: skip
            except BaseException:
                self.lock.abandon()
                raise

    def _load_position(self) -> None:
        """Position from the newest local L0 file; a corrupt one is dropped, not trusted."""
        files = self.meta.files(0)
        self._last_header, self._last_path = None, None
        if not files:
            self.pos = Pos(0, 0)
            return
        newest = files[-1]
        path = self.meta.ltx_path(0, newest.min_txid, newest.max_txid)
        try:
            with open(path, "rb") as f:
                dec = Decoder(f, self.settings.page_codecs)
                trailer = dec.verify()
        except (LTXError, OSError) as exc:
            log.warning(
                "local LTX file is damaged; the next sync takes a full snapshot instead",
                extra={"db": str(self.path), "file": path.name, "error": str(exc)},
            )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self.pos = Pos(newest.max_txid, 0)
            self._snapshot_reason = "local LTX state corrupt"
            return
        self.pos = Pos(newest.max_txid, trailer.post_apply_checksum)
        self._last_header, self._last_path = dec.header, path

    def _init(self) -> bool:
        """Connect once the database file exists; False while it does not or after close."""
        if self._conns is not None:
            return True
        if self._closed or not self.path.exists() or self._stale_files_remain():
            return False
        check_database_file(self.path)
        open_files, self.open_files = self.open_files, None
        if open_elsewhere_in_process(self.path, open_files):
            log.warning(
                "database is already open in this process, probably through another SQLite "
                "library: its locks and ours do not see each other, so replication is "
                "not safe; run the application and the replicator in separate processes",
                extra={"db": str(self.path)},
            )
        conns = Connections(self.path, self.settings.busy_timeout)
        try:
            if _read_header(self.wal_path) is None:
                conns.bump_seq()
            conns.acquire_read_lock()
            # Kept open until the connections close: closing any descriptor of a file
            # drops every POSIX lock this process holds on it, SQLite's included.
            self._db_file = open(self.path, "rb", buffering=0)  # noqa: SIM115
            with self._fd_lock:
                self._wal_file = open(self.wal_path, "rb", buffering=0)  # noqa: SIM115
                with contextlib.suppress(FileNotFoundError):
                    self._shm_fd = os.open(f"{self.path}-shm", os.O_RDONLY)
        except BaseException:
            conns.close()
            self._close_files()
            raise
        self._conns = conns
        self.page_size = conns.page_size
        if self._gone is not None:
            log.warning("a database is at the path again; replicating it from a snapshot",
                        extra={"db": str(self.path)})  # fmt: skip
            self._gone = None
        return True

    def _close_files(self) -> None:
        with self._fd_lock:
            for name in ("_db_file", "_wal_file"):
                f: BinaryIO | None = getattr(self, name)
                if f is not None:
                    f.close()
                    setattr(self, name, None)
            if self._shm_fd >= 0:
                os.close(self._shm_fd)
                self._shm_fd = -1

    # -- a database deleted or replaced under us -----------------------------------

    def _file_at_path_changed(self) -> str | None:
        """ "deleted" or "replaced" when the path no longer leads to the file we hold."""
        if self._db_file is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        return None if os.path.samestat(st, os.fstat(self._db_file.fileno())) else "replaced"

    def _let_go(self, what: str) -> None:
        """Close our connections to a database that is no longer at its path.

        Its -wal and -shm, if the path still leads to them, belong to the old file:
        when no other process uses them, SQLite checkpoints them into the old file and
        deletes them as we close; otherwise they are held and compared until gone.
        """
        assert self._conns is not None and self._wal_file is not None
        log.warning(
            f"the database file was {what}; its replication stops here, and a database "
            "that appears at the path is replicated from a new snapshot",
            extra={"db": str(self.path)},
        )
        with self._fd_lock:
            old_wal, self._wal_file = self._wal_file, None
        old_shm = open(os.dup(self._shm_fd), "rb") if self._shm_fd >= 0 else None  # noqa: SIM115
        candidates = [f for f in (old_wal, old_shm) if f is not None]
        if any(_still_there(f, self.path, close=False) for f in candidates) and (
            self._shm_fd < 0 or not shm_used_by_other_process(self._shm_fd)
        ):
            self._conns.forget_wal_on_close()
        self._conns.close()  # before any of our descriptors closes: that drops its locks
        self._conns = None
        self._close_files()
        self._stale = [f for f in candidates if _still_there(f, self.path)]
        if self._stale:
            log.warning(
                "the old database's -wal/-shm are still in use by another process; "
                "the new database is replicated once they are gone",
                extra={"db": str(self.path)},
            )
        self._gone = what
        self._cursor = None
        self._gen_pages = {}
        self._sums = None
        self._last_header, self._last_path = None, None
        self._snapshot_reason = f"database file {what}"

    def _stale_files_remain(self) -> bool:
        """Whether the replaced database's -wal/-shm are still at the path.

        Once no other process uses them they are removed, as SQLite removes them when
        the last connection closes: left there, they would pair with the new file.
        """
        self._stale = [f for f in self._stale if _still_there(f, self.path)]
        if not self._stale:
            return False
        shm = next((f for f in self._stale if _same_file(f"{self.path}-shm", f)), None)
        if shm is not None and shm_used_by_other_process(shm.fileno()):
            return True
        for f in self._stale:
            for suffix in ("-wal", "-shm"):
                if _same_file(f"{self.path}{suffix}", f):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{self.path}{suffix}")
            f.close()
        log.warning("removed the replaced database's -wal and -shm", extra={"db": str(self.path)})
        self._stale = []
        return False

    def close(self) -> None:
        with self.mutex:
            self._no_readers.wait_for(lambda: self._readers == 0)
            self._closed = True
            self._idle_token = None
            try:
                if self._conns is not None and self._file_at_path_changed() is None:
                    self._sync_step()
            finally:
                if self._conns is not None:
                    self._conns.close()
                    self._conns = None
                self._close_files()
                for f in self._stale:
                    f.close()
                self._stale = []
                self._cursor = None
                self.lock.release()

    def drain_events(self) -> list[Event]:
        """Never waits for a sync in progress (the loop calls it)."""
        with self._events_lock:
            events, self.events = self.events, []
            return events

    def _record(self, event: Event) -> None:
        with self._events_lock:
            self.events.append(event)
        if self._checkpointing and self.on_event is not None:
            self.on_event()

    @property
    def synced_wal_offset(self) -> int:
        """How far into the WAL file the L0 files reach (Go's ``litestream_wal_size``)."""
        cur = self._cursor
        return cur.offset if cur is not None else 0

    def change_token(self) -> ChangeToken:
        """Cheap to take from any thread: a few syscalls on held descriptors."""
        now = time.time()
        try:
            st = os.stat(self.path)
            db: tuple[int, int, int] | None = (st.st_dev, st.st_ino, st.st_mtime_ns)
        except OSError:
            db = None
        index, wal = b"", None
        with self._fd_lock, contextlib.suppress(OSError, ValueError):
            if self._shm_fd >= 0:
                index = os.pread(self._shm_fd, 48, 0)
            if self._wal_file is not None:
                wst = os.fstat(self._wal_file.fileno())
                wal = (wst.st_size, wst.st_mtime_ns)
        return ChangeToken(db, index, wal, now)

    def is_idle(self, token: ChangeToken) -> bool:
        """Whether a sync now would do nothing: nothing changed since the last sync
        that found nothing left to do, and no checkpoint is due by time."""
        if token != self._idle_token:
            return False
        cur = self._cursor
        if cur is None or token.db is None:
            return self._conns is None  # a database not there yet (or gone)
        since_write = token.checked_at - token.db[2] / 1e9
        state = ckpt.CheckpointState(cur.offset, self._synced_since_checkpoint, since_write)
        return ckpt.choose(self.settings, self.page_size, state) is None

    # -- syncing ---------------------------------------------------------------------

    @counts_sync
    def sync(self, token: ChangeToken | None = None) -> LTXFileInfo | None:
        """One step: copy at most ``max_sync_wal_bytes`` of new commits into an L0 file
        (None if there were none). ``limited`` tells whether more is pending; no
        checkpoint runs until a step reaches the WAL's end.

        ``token``, taken before the call, becomes the idle token if the sync leaves
        nothing pending, so later ticks with the same token can skip the work.
        """
        with self.mutex:
            self.limited = False
            self._idle_token = None
            if self._conns is not None and (what := self._file_at_path_changed()):
                if self._readers:
                    return None  # a snapshot still reads the old file
                self._let_go(what)
            if not self._init():
                if token is not None and self._conns is None and not self._stale:
                    self._idle_token = token
                return None
            try:
                info = self._sync_step(self.settings.max_sync_wal_bytes)
                if self.limited:
                    return info
                self._checkpoint_if_needed()
            except BaseException:
                with contextlib.suppress(Exception):  # the first error is the one to tell
                    self._yield_read_lock()  # nothing is kept that the next sync trusts
                raise
            if token is not None and self._snapshot_reason is None and self._cursor is not None:
                self._idle_token = token
            self._yield_read_lock()
            return info

    def _yield_read_lock(self) -> None:
        """End our read transaction between syncs (``allow_app_checkpoints``), unless a
        snapshot still reads under it."""
        if not self.settings.allow_app_checkpoints or self._readers or self._conns is None:
            return
        if self._cursor is not None:
            self._cursor.restart_ok = False
        self._conns.release_read_lock()

    def _sync_step(self, limit: int = 0) -> LTXFileInfo | None:
        try:
            return self._sync_step_once(limit)
        except _WALMoved:
            # Our read transaction now pins the new generation: retried at once, as
            # someone else's restart (it may have followed commits we never read).
            log.debug("the WAL restarted while it was read; reading it again",
                      extra={"db": str(self.path)})  # fmt: skip
            if self._cursor is not None:
                self._cursor.restart_ok = False
            return self._sync_step_once(limit)

    def _sync_step_once(self, limit: int) -> LTXFileInfo | None:
        assert self._conns is not None
        # Normally held already (always, unless ``allow_app_checkpoints``); if an error
        # lost it, anything that happened meanwhile shows up as a changed WAL below.
        fresh = not self._conns.read_locked
        if fresh:
            self._conns.acquire_read_lock()
        hdr = self._ensure_wal()
        wal = self._wal_file
        assert wal is not None
        start, checksum, reason = self._plan(hdr, wal)
        # Reads stop at the file's end: an open-ended read allocates its whole chunk
        # (8 MiB) however little is there, twice per scan, at every sync.
        end = os.fstat(wal.fileno()).st_size
        if reason is not None:
            scan = scan_wal(wal, hdr, WAL_HEADER_SIZE, hdr.checksum, stop=end)
            if self._can_diff(reason):
                return self._write_changed(hdr, wal, scan, reason)
            return self._write_snapshot(hdr, wal, scan, reason)
        scan = scan_wal(wal, hdr, start, checksum, stop=end, limit=limit)
        if fresh and scan.limited and self._growth_from_file(scan):
            # See "Application checkpoints" above: the file may be newer than this end.
            scan = scan_wal(wal, hdr, start, checksum, stop=end)
        if scan.end == start:
            return None
        self.limited = scan.limited
        return self._write_incremental(hdr, wal, scan)

    def _growth_from_file(self, scan: WALScan) -> bool:
        """Whether the database grows within ``scan`` by pages that no frame of this
        generation up to its end holds, which are then read from the database file."""
        cur = self._cursor
        assert cur is not None
        lock = lock_pgno(self.page_size)
        return any(
            p != lock and p not in scan.pages and p not in self._gen_pages
            for p in range(cur.commit + 1, scan.commit + 1)
        )

    def _can_diff(self, reason: str) -> bool:
        """Whether the pages that changed since ``pos`` can be told without the WAL."""
        return (
            self.settings.allow_app_checkpoints
            and reason in _WAL_CHANGED
            and self._sums is not None
            and self._cursor is not None
            and self.pos.txid > 0
        )

    def _wal_header(self) -> WALHeader | None:
        assert self._wal_file is not None
        return WALHeader.parse(os.pread(self._wal_file.fileno(), WAL_HEADER_SIZE, 0))

    def _ensure_wal(self) -> WALHeader:
        """The WAL header, first committing a frame if the WAL is empty (Go does too)."""
        hdr = self._wal_header()
        if hdr is None:
            assert self._conns is not None
            self._conns.bump_seq()
            hdr = self._wal_header()
            if hdr is None:
                raise DatabaseError(f"{self.wal_path} has no valid header after a write")
        return hdr

    def _plan(self, hdr: WALHeader, wal: BinaryIO) -> tuple[int, tuple[int, int], str | None]:
        """Where to continue reading the WAL, or why a snapshot is needed instead."""
        snap = (WAL_HEADER_SIZE, hdr.checksum)
        if self._snapshot_reason is not None:
            return *snap, self._snapshot_reason
        if self.pos.txid == 0:
            return *snap, "first sync"
        if hdr.page_size != self.page_size:
            return *snap, "WAL page size differs from the database's"
        if self.settings.ltx_checksums and self._sums is None:
            return *snap, "page checksums are not in memory"
        cur = self._cursor
        if cur is None:
            recovered = self._recover(hdr, wal)
            if isinstance(recovered, str):
                return *snap, recovered
            cur = self._cursor = recovered
        if hdr.salts == cur.salts:
            if cur.offset > WAL_HEADER_SIZE:
                frame = read_frame(wal, cur.offset - frame_size(self.page_size), self.page_size)
                if frame is None or (frame[0].salt1, frame[0].salt2) != cur.salts:
                    return *snap, "WAL truncated or overwritten by another process"
                if frame[0].checksum != cur.checksum:
                    return *snap, "WAL overwritten by another process"
            return cur.offset, cur.checksum, None
        if cur.restart_ok and hdr.salt1 == (cur.salts[0] + 1) & _MASK:
            self._gen_pages = {}
            self._cursor = Cursor(hdr.salts, WAL_HEADER_SIZE, hdr.checksum, cur.commit)
            return WAL_HEADER_SIZE, hdr.checksum, None
        return *snap, "WAL restarted by another process"

    def _recover(self, hdr: WALHeader, wal: BinaryIO) -> Cursor | str:
        """Rebuild the cursor from the newest L0 file, or say why that is unsafe."""
        last = self._last_header
        if last is None or last.wal_offset == 0:
            return "no WAL position in the last LTX file"
        if (last.wal_salt1, last.wal_salt2) != hdr.salts:
            return "WAL restarted since the last LTX file"
        if last.page_size != self.page_size:
            return "page size changed since the last LTX file"
        end = last.wal_offset + last.wal_size
        fs = frame_size(self.page_size)
        if (end - WAL_HEADER_SIZE) % fs:
            return "last LTX file's WAL offset is not on a frame boundary"
        scan = scan_wal(wal, hdr, WAL_HEADER_SIZE, hdr.checksum, stop=end)
        if scan.end != end:
            return "WAL no longer holds the frames of the last LTX file"
        if end > WAL_HEADER_SIZE and not self._last_page_matches(wal, end - fs):
            return "last synced WAL frame differs from the last LTX file"
        self._gen_pages = scan.pages
        return Cursor(hdr.salts, end, scan.checksum, last.commit)

    def _last_page_matches(self, wal: BinaryIO, offset: int) -> bool:
        frame = read_frame(wal, offset, self.page_size)
        if frame is None or self._last_path is None:
            return False
        try:
            with open(self._last_path, "rb") as f:
                name = Header.decode(f.read(HEADER_SIZE)).page_codec
                codec = self.settings.page_codecs.get(name)
                elem = read_page_index(f).get(frame[0].pgno)
                return (
                    elem is not None and read_page(f, elem, self.page_size, None, codec) == frame[1]
                )
        except (LTXError, OSError):
            return False

    # -- writing L0 files --------------------------------------------------------------

    def _header(
        self, txid: int, commit: int, scan: WALScan, salts: tuple[int, int], pre_apply: int | None
    ) -> Header:
        """Header as Go fills it; ``pre_apply`` None means this file carries no checksums."""
        return Header(
            page_size=self.page_size,
            commit=commit,
            min_txid=txid,
            max_txid=txid,
            timestamp=self._timestamp_ms(),
            pre_apply_checksum=pre_apply or 0,
            wal_offset=scan.start,
            wal_size=scan.size,
            wal_salt1=salts[0],
            wal_salt2=salts[1],
            flags=HEADER_FLAG_NO_CHECKSUM if pre_apply is None else 0,
        )

    def _timestamp_ms(self) -> int:
        """The engine clock, never before the previous file's time (docs/clocks.md)."""
        last = self._last_header.timestamp if self._last_header is not None else 0
        return max(clock.now_ms(), last)

    def _write_incremental(self, hdr: WALHeader, wal: BinaryIO, scan: WALScan) -> LTXFileInfo:
        cur = self._cursor
        assert cur is not None and self._db_file is not None
        txid, commit = self.pos.txid + 1, scan.commit
        pgnos = {p for p in scan.pages if p <= commit}
        frames = scan.pages
        if commit > cur.commit:
            # Growth pages absent from the new frames (Go #1198) are read as SQLite would
            # read them: from an older frame of this generation, else the database file.
            lock = lock_pgno(self.page_size)
            growth = [p for p in range(cur.commit + 1, commit + 1) if p != lock and p not in frames]
            pgnos.update(growth)
            older = {p: self._gen_pages[p] for p in growth if p in self._gen_pages}
            frames = {**older, **scan.pages}
        sums = self._sums
        pre = sums.value if sums is not None and self.settings.ltx_checksums else None
        header = self._header(txid, commit, scan, hdr.salts, pre)
        reader = PageReader(self._db_file, wal, self.page_size)
        info = self._write_l0(header, self._pages_body(header, sorted(pgnos), frames, reader, sums))
        self._gen_pages.update(scan.pages)
        self._cursor = Cursor(hdr.salts, scan.end, scan.checksum, commit)
        return info

    def _write_snapshot(
        self, hdr: WALHeader, wal: BinaryIO, scan: WALScan, reason: str
    ) -> LTXFileInfo:
        """All pages at the WAL's last commit, as the next TXID (Go's full L0 sync)."""
        assert self._db_file is not None
        txid = self.pos.txid + 1
        started = time.monotonic()
        log.log(logging.DEBUG if reason == CHECKPOINT_SNAPSHOT else logging.INFO,
                "snapshot started", extra={"db": str(self.path), "txid": format_txid(txid),
                                           "reason": reason})  # fmt: skip
        commit = scan.commit or os.fstat(self._db_file.fileno()).st_size // self.page_size
        sums: PageSums | None = None
        pre: int | None = None
        if self.settings.ltx_checksums and (txid == 1 or self.pos.post_apply_checksum):
            sums, pre = PageSums(), (0 if txid == 1 else self.pos.post_apply_checksum)
        elif self.settings.allow_app_checkpoints:
            sums = PageSums()  # kept for a later file of changed pages, not written
        header = self._header(txid, commit, scan, hdr.salts, pre)
        reader = PageReader(self._db_file, wal, self.page_size)
        pages = snapshot_pages(commit, self.page_size)
        info = self._write_l0(header, self._pages_body(header, pages, scan.pages, reader, sums))
        self._sums = sums
        self._gen_pages = dict(scan.pages)
        self._cursor = Cursor(hdr.salts, scan.end, scan.checksum, commit)
        self._snapshot_reason = None
        self._record(
            SnapshotWritten(
                db_path=str(self.path),
                level=0,
                txid=txid,
                size=info.size,
                reason=reason,
                duration_seconds=time.monotonic() - started,
            )
        )
        return info

    def _write_changed(
        self, hdr: WALHeader, wal: BinaryIO, scan: WALScan, reason: str
    ) -> LTXFileInfo:
        """The pages that differ from the replicated state, as the next TXID: what a
        snapshot would write, minus the pages the replica already has."""
        assert self._db_file is not None and self._sums is not None
        # No commit in this generation yet: the database file alone is the state.
        commit = scan.commit or os.fstat(self._db_file.fileno()).st_size // self.page_size
        if commit == 0:
            return self._write_snapshot(hdr, wal, scan, reason)
        txid = self.pos.txid + 1
        old = self._sums
        sums = old.copy()
        pre = self.pos.post_apply_checksum if self.settings.ltx_checksums else None
        header = self._header(txid, commit, scan, hdr.salts, pre)
        assert self._cursor is not None
        if not 1 <= (hdr.salt1 - self._cursor.salts[0]) & _MASK <= SALT_RESTARTS:
            # Not a restart of our WAL as far as the salts tell (SQLite picks new random
            # salts when it starts a WAL from an empty file): restore's continuity check
            # would take the file for another database's, so it records no WAL position,
            # as compacted files do; the file after it has one again.
            header = header.with_(wal_offset=0, wal_size=0, wal_salt1=0, wal_salt2=0)
        reader = PageReader(self._db_file, wal, self.page_size)
        codec = self.settings.page_codecs.write
        written = 0

        def body(out: BinaryIO) -> Trailer:
            nonlocal written
            trailer, written = write_changed_pages(out, header, scan.pages, reader, sums, codec)
            return trailer

        try:
            info = self._write_l0(header, body, hdr.salts)
        except _WALMoved:
            self._sums = old  # nothing was written: the old state is still the replica's
            raise
        self._sums = sums
        self._gen_pages = dict(scan.pages)
        self._cursor = Cursor(hdr.salts, scan.end, scan.checksum, commit)
        self._snapshot_reason = None
        log.info(
            "the WAL changed under us; copied only the changed pages instead of a snapshot",
            extra={"db": str(self.path), "txid": format_txid(txid), "reason": reason,
                   "pages": written, "commit": commit},
        )  # fmt: skip
        return info

    def _pages_body(
        self,
        header: Header,
        pgnos: Iterable[int],
        frames: Mapping[int, int],
        reader: PageReader,
        sums: PageSums | None,
    ) -> Callable[[BinaryIO], Trailer]:
        codec = self.settings.page_codecs.write

        def body(out: BinaryIO) -> Trailer:
            return write_pages(out, header, pgnos, frames, reader, sums, codec=codec)

        return body

    def _check_wal_salts(self, salt1: int, salt2: int) -> None:
        """Raise ``_WALMoved`` if the WAL no longer has these salts: it restarted, and
        frames read from it may belong to the new generation (see the module docstring;
        only possible with ``allow_app_checkpoints``)."""
        if not self.settings.allow_app_checkpoints:
            return
        now = self._wal_header()
        if now is None or now.salts != (salt1, salt2):
            raise _WALMoved

    def _write_l0(
        self,
        header: Header,
        body: Callable[[BinaryIO], Trailer],
        salts: tuple[int, int] | None = None,
    ) -> LTXFileInfo:
        """``salts``: of the WAL the pages are read from (default: the header's)."""
        txid = header.max_txid
        self._newest_l0 = None
        copy = _Copy(self.keep_newest_l0)
        if salts is None:
            salts = (header.wal_salt1, header.wal_salt2)

        def write(out: BinaryIO) -> Trailer:
            try:
                trailer = body(copy.tee(out))
            except OSError:
                self._check_wal_salts(*salts)  # a frame read short from a truncated WAL
                raise
            self._check_wal_salts(*salts)
            return trailer

        try:
            trailer, size = self.meta.write_atomic(0, txid, txid, write)
        except BaseException:
            # A partly applied write leaves the page checksums unknown.
            self._sums = None
            raise
        if copy.data is not None and len(copy.data) == size:
            self._newest_l0 = (txid, bytes(copy.data))
        self.pos = Pos(txid, trailer.post_apply_checksum)
        self.stats.add_wal_bytes(header.wal_size)
        self._last_header = header
        self._last_path = self.meta.ltx_path(0, txid, txid)
        self._synced_since_checkpoint = True
        self._record(
            LTXFileWritten(db_path=str(self.path), level=0, min_txid=txid, max_txid=txid, size=size)
        )
        return LTXFileInfo(0, txid, txid, size, datetime.now(UTC))

    # -- snapshots for the replica, rebase, cleanup -------------------------------------

    def write_snapshot(self, out: BinaryIO) -> Header:
        """A snapshot (TXIDs 1..pos) of the database exactly at ``pos`` after a sync.

        Only the sync and the bookkeeping take the lock; pages are read without it, so
        the monitor keeps syncing while a large snapshot is written. That is safe
        because the pages at ``pos`` do not move meanwhile: our read transaction keeps
        other checkpointers from copying newer frames into the database file and from
        restarting the WAL, and our own checkpoints (and close) wait for the snapshot.
        """
        with self.mutex:
            if not self._init():
                raise DatabaseError(f"{self.path} does not exist yet or is closed")
            self._sync_step()
            cur = self._cursor
            assert cur is not None and self._db_file is not None and self._wal_file is not None
            fs = frame_size(self.page_size)
            start = max(WAL_HEADER_SIZE, cur.offset - fs)
            span = WALScan(start=start, end=cur.offset, checksum=cur.checksum)
            checksums = self.settings.ltx_checksums and self._sums is not None
            header = self._header(
                self.pos.txid, cur.commit, span, cur.salts, 0 if checksums else None
            ).with_(min_txid=1)
            post = self._sums.value if checksums and self._sums is not None else 0
            frames = dict(self._gen_pages)
            reader = PageReader(self._db_file, self._wal_file, self.page_size)
            self._readers += 1
        try:
            pages = snapshot_pages(cur.commit, self.page_size)
            codec = self.settings.page_codecs.write
            try:
                write_pages(out, header, pages, frames, reader, None, post, codec)
            except OSError:
                self._check_wal_salts(*cur.salts)  # a frame read short from a truncated WAL
                raise
            self._check_wal_salts(*cur.salts)
        except _WALMoved:
            raise DatabaseError(
                f"{self.path}: the WAL restarted while the snapshot was read; retrying later"
            ) from None
        finally:
            with self.mutex:
                self._readers -= 1
                self._no_readers.notify_all()
                if not self._readers:
                    self._yield_read_lock()
        return header

    def rebase(self, pos: Pos, ltx_file: Path | None) -> None:
        with self.mutex:
            self._idle_token = None
            self._newest_l0 = None
            keep = None
            self._last_header, self._last_path = None, None
            if ltx_file is not None and ltx_file.exists():
                with open(ltx_file, "rb") as f:
                    self._last_header = Decoder(f, self.settings.page_codecs).header
                self._last_path = ltx_file
                keep = self._last_header.max_txid
            self.meta.remove(0, 1 << 64, keep=keep)
            self.pos = pos
            self._cursor = None
            self._sums = None
            self._snapshot_reason = "rebased on the replica's position"

    def remove_ltx_files(self, level: int, up_to_txid: int) -> None:
        with self.mutex:
            keep = self.pos.txid if level == 0 else None
            self.meta.remove(level, up_to_txid, keep=keep)
            if self._newest_l0 is not None and self._newest_l0[0] != keep:
                self._newest_l0 = None

    def newest_l0(self, txid: int, size: int) -> bytes | None:
        """The bytes of local L0 file ``txid`` if it is the newest one, of ``size``
        bytes, and was small enough to keep; from any thread.

        The upload of the file a sync just wrote then needs no thread to read it back
        and verify it (bytes in memory cannot have been damaged on disk): one thread
        hand-off per commit fewer on the way to the replica."""
        kept = self._newest_l0
        if kept is None or kept[0] != txid or len(kept[1]) != size:
            return None
        return kept[1]

    def forget_newest_l0(self, txid: int) -> None:
        """Drop the kept bytes once uploaded (a thousand idle databases keep none)."""
        kept = self._newest_l0
        if kept is not None and kept[0] <= txid:
            self._newest_l0 = None

    # -- checkpoints -----------------------------------------------------------------

    def checkpoint(self, mode: str) -> None:
        with self.mutex:
            self._idle_token = None
            self._no_readers.wait_for(lambda: self._readers == 0)
            if self._init():
                self._checkpoint(mode.upper())
                self._yield_read_lock()

    def _checkpoint_if_needed(self) -> None:
        cur = self._cursor
        if cur is None or self._readers:
            return  # a snapshot reading the WAL: the next sync checkpoints
        try:
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            return
        state = ckpt.CheckpointState(cur.offset, self._synced_since_checkpoint, time.time() - mtime)
        mode = ckpt.choose(self.settings, self.page_size, state)
        if mode == ckpt.TRUNCATE:
            # A PASSIVE checkpoint may restart the WAL and spare the blocking TRUNCATE
            # with its boundary snapshot.
            if (
                self._checkpoint(ckpt.PASSIVE, synced=True)
                and self._cursor is not None
                and not (ckpt.exceeds_truncate(self.settings, self.page_size, self._cursor.offset))
            ):
                return
            log.info(
                "WAL is too large: forcing a TRUNCATE checkpoint, which waits for writers",
                extra={"db": str(self.path), "wal_pages": self.settings.truncate_page_n},
            )
        if mode is not None:
            self._checkpoint(mode, synced=True)

    @counts_checkpoint
    def _checkpoint(self, mode: str, *, synced: bool = False) -> bool:
        """Checkpoint, then continue on the restarted WAL; True if the WAL restarted.

        ``synced``: the caller has just synced, so no sync is needed before starting.

        PASSIVE runs under our write lock after a final sync, so every commit it copies
        into the database file was captured first, and the WAL it lets restart starts
        after our last frame: we continue from the new generation. RESTART and TRUNCATE
        need the write lock themselves, so commits can land between our last sync and
        the checkpoint. RESTART reports how many frames it saw: if no more than we
        copied, we continue as after PASSIVE. TRUNCATE always reports zero, so, as Go
        does, it is followed by a full snapshot. Unlike Go we take that snapshot
        without holding the write lock (which stalls the application for the whole
        snapshot, Go #1332): our read transaction, taken again right after the
        checkpoint, already pins the database file, and the snapshot reads every frame
        of the new generation up to its last commit, so it is one consistent state.
        """
        self._checkpointing = True
        try:
            return self._checkpoint_locked(mode, synced)
        finally:
            self._checkpointing = False

    def _checkpoint_locked(self, mode: str, synced: bool) -> bool:
        conns = self._conns
        assert conns is not None
        before = self._ensure_wal()
        if not synced:
            self._sync_step()
        try:
            copied = 0
            if mode == ckpt.PASSIVE:
                with conns.write_lock():
                    self._sync_step()
                    busy, frames, _ = conns.checkpoint(mode)
            else:
                cur = self._cursor
                assert cur is not None
                copied = (cur.offset - WAL_HEADER_SIZE) // frame_size(self.page_size)
                busy, frames, _ = conns.checkpoint(mode)
        except Exception as exc:
            if not is_busy(exc):
                raise
            log.debug("checkpoint skipped: the database is busy",
                      extra={"db": str(self.path), "mode": mode})  # fmt: skip
            return False
        cur = self._cursor
        # A restart to the next generation is lossless after PASSIVE (nobody could
        # commit between our last frame and the checkpoint) and after a RESTART that
        # finished having seen no frame we had not copied. Later commits go to the new
        # generation; a second restart would show as salt1 + 2 and get a snapshot.
        if cur is not None and (
            mode == ckpt.PASSIVE or (mode == ckpt.RESTART and not busy and 0 <= frames <= copied)
        ):
            cur.restart_ok = True
        try:
            conns.bump_seq()  # lets the WAL restart now, while we watch
        except Exception as exc:
            if not is_busy(exc):
                raise
        self._record(
            CheckpointCompleted(db_path=str(self.path), mode=mode, wal_pages_before=max(frames, 0))
        )
        if busy:
            log.debug("checkpoint could not finish: the database is busy",
                      extra={"db": str(self.path), "mode": mode})  # fmt: skip
        self._synced_since_checkpoint = False
        if self._wal_header() == before:
            return False
        if cur is None or not cur.restart_ok:
            self._snapshot_reason = CHECKPOINT_SNAPSHOT
        self._sync_step()
        self._synced_since_checkpoint = False
        return True


def _read_header(path: Path) -> WALHeader | None:
    try:
        with open(path, "rb") as f:
            return WALHeader.parse(f.read(WAL_HEADER_SIZE))
    except FileNotFoundError:
        return None


def _same_file(path: str, f: BinaryIO) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(f.fileno()))
    except OSError:
        return False


def _still_there(f: BinaryIO, db_path: Path, *, close: bool = True) -> bool:
    """Whether the old file ``f`` is still the -wal or -shm at ``db_path``; if not, it is
    closed (unless ``close`` is False)."""
    for suffix in ("-wal", "-shm"):
        if _same_file(f"{db_path}{suffix}", f):
            return True
    if close:
        f.close()
    return False


class _Copy:
    """A copy of what is written through ``tee``, while it stays within ``limit`` bytes
    (``data`` is None beyond that, or when ``limit`` is 0)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.data: bytearray | None = bytearray() if limit > 0 else None

    def tee(self, out: BinaryIO) -> BinaryIO:
        if self.data is None:
            return out
        return cast(BinaryIO, _Tee(out, self))

    def add(self, data: bytes) -> None:
        if self.data is not None:
            if len(self.data) + len(data) > self._limit:
                self.data = None
            else:
                self.data += data


class _Tee:
    """Just enough of a binary file for the LTX encoder, which only writes."""

    def __init__(self, out: BinaryIO, copy: _Copy) -> None:
        self._out = out
        self._copy = copy

    def write(self, data: bytes) -> int:
        self._copy.add(data)
        return self._out.write(data)
