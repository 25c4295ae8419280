"""Our own SQLite connections to the replicated database, through APSW.

Why APSW and not the stdlib ``sqlite3``: the stdlib module on our target machines links
SQLite 3.40.1, which has the upstream WAL-reset corruption bug (fixed in 3.51.3), and it
cannot set ``SQLITE_FCNTL_PERSIST_WAL``. APSW bundles a current SQLite and exposes
``file_control``. The application may use any SQLite it likes, *in another process*:
two SQLite library copies in one process do not see each other's POSIX locks (each
tracks only its own, and the kernel does not make a process conflict with itself), so
in-process our read lock would not hold back the application's checkpoints and two
writers could both take the WAL write lock. For the same reason nothing in this process
may open and close the database or ``-shm`` file while we are connected: closing any
descriptor of a file drops every POSIX lock the process holds on it.

Two connections, as Go's connection pool ends up using two:

* the *reader* holds a long read transaction. While it is open no checkpointer (the
  application's auto-checkpoint included) can copy frames past its snapshot into the
  database file in a way that loses them, nor restart the WAL. It is released only
  around our own checkpoints, which also run on it.
* the *writer* bumps ``_litestream_seq`` (so the WAL always has a frame) and takes the
  write lock with an insert into ``_litestream_lock`` that is always rolled back.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import apsw

from litestream_core.errors import DatabaseError

SQLITE_HEADER = b"SQLite format 3\x00"
CHECKPOINT_MODES = ("PASSIVE", "FULL", "RESTART", "TRUNCATE")
CACHE_PAGES = 2
"""Our connections read a page or two (``_litestream_seq``, the header); SQLite's
default cache preallocates some 90 KB per connection for pages we never read."""


def _without_lookaside() -> None:
    """Turn off SQLite's lookaside allocator (about 150 KB per connection, set aside at
    open) for this process's APSW connections: two per replicated database, each doing
    a handful of tiny statements, made a thousand databases cost 300 MB of it.

    Only possible before SQLite initialises; if some other user of APSW in this
    process already has connections open, SQLite's defaults stay.
    """
    with contextlib.suppress(apsw.Error):
        apsw.shutdown()
        apsw.config(apsw.SQLITE_CONFIG_LOOKASIDE, 0, 0)
    apsw.initialize()


_without_lookaside()


class DatabaseBusyError(DatabaseError):
    """Another connection holds a lock we need to set the database up; retry later."""


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: someone else holds a lock; retry later."""
    return isinstance(exc, apsw.BusyError | apsw.LockedError)


def check_database_file(path: Path) -> None:
    """Raise DatabaseError unless ``path`` is empty or starts with SQLite's magic."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except IsADirectoryError:
        raise DatabaseError(f"{path} is a directory, not a SQLite database") from None
    except OSError as exc:
        raise DatabaseError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head and head != SQLITE_HEADER:
        raise DatabaseError(f"{path} is not a SQLite database")


def files_open_in_process() -> frozenset[str]:
    """The paths this process has open (Linux; empty elsewhere): one pass over
    ``/proc/self/fd``, so a caller opening many databases pays for it once."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return frozenset()
    names = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            names.add(os.readlink(f"/proc/self/fd/{fd}"))
    return frozenset(names)


def open_elsewhere_in_process(path: Path, open_files: frozenset[str] | None = None) -> bool:
    """Whether this process already has the database, its WAL or -shm open.

    Checked before we connect: such a descriptor belongs to another SQLite (the
    application's, if it embeds us) whose locks ours cannot see. ``open_files`` is a
    listing taken earlier by ``files_open_in_process`` (a store opening thousands of
    databases lists the descriptors once, not once per database).
    """
    names = {os.fspath(path), f"{path}-wal", f"{path}-shm"}
    if open_files is None:
        open_files = files_open_in_process()
    return not names.isdisjoint(open_files)


SHM_DMS_OFFSET = 128
"""The wal-index byte every connection using it holds a shared lock on (SQLite's
``UNIX_SHM_DMS``): a lock there held by another process means that process uses the WAL."""


def shm_used_by_other_process(fd: int) -> bool:
    """Whether another process holds SQLite's lock on this ``-shm`` file (Linux layout
    of ``struct flock``; elsewhere we answer True, the safe side)."""
    if not sys.platform.startswith("linux"):
        return True
    query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, SHM_DMS_OFFSET, 1, 0)
    try:
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
    except OSError:
        return True
    lock_type: int = struct.unpack("hhqqi4x", answer)[0]
    return lock_type != fcntl.F_UNLCK


class Connections:
    """The reader and writer connections; every method blocks (call it off the loop)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self._timeout_ms = max(0, int(busy_timeout * 1000))
        self.reader = self._connect()
        try:
            self.writer = self._connect()
            self._enable_wal()
            self._create_tables()
            self.page_size = _int(self.reader.execute("PRAGMA page_size;").fetchall()[0][0])
        except apsw.Error as exc:
            self.close()
            raise self._error(exc) from None
        except BaseException:
            self.close()
            raise

    def _connect(self) -> apsw.Connection:
        try:
            conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READWRITE)
            conn.set_busy_timeout(self._timeout_ms)
            conn.execute(f"PRAGMA cache_size = {CACHE_PAGES};")
            conn.wal_autocheckpoint(0)
            flag = ctypes.c_int(1)
            conn.file_control("main", apsw.SQLITE_FCNTL_PERSIST_WAL, ctypes.addressof(flag))
        except apsw.Error as exc:
            raise self._error(exc) from None
        return conn

    def _error(self, exc: apsw.Error) -> DatabaseError:
        if isinstance(exc, apsw.NotADBError):
            return DatabaseError(f"{self.path} is not a SQLite database")
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if is_busy(exc):
            return DatabaseBusyError(f"cannot set up {self.path} for replication: {msg}")
        return DatabaseError(f"cannot open {self.path} for replication: {msg}")

    def _create_tables(self) -> None:
        """Go's two tables, in one transaction (one WAL sync), and only if missing: a
        restart usually finds them and writes nothing."""
        found = self.writer.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('_litestream_seq', '_litestream_lock');"
        ).fetchall()[0][0]
        if found == 2:
            return
        # Plain statements, not APSW's ``with connection:``, whose commit (a WAL fsync)
        # runs without releasing the GIL. IMMEDIATE: a deferred transaction that reads
        # first and then writes fails at once (SQLITE_BUSY_SNAPSHOT, no busy wait) when
        # another writer committed in between, so under a busy application it failed
        # again and again, and replication never started.
        try:
            self.writer.execute(
                "BEGIN IMMEDIATE; "
                "CREATE TABLE IF NOT EXISTS _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER); "
                "CREATE TABLE IF NOT EXISTS _litestream_lock (id INTEGER); "
                "COMMIT;"
            )
        except BaseException:
            if not self.writer.get_autocommit():
                self.writer.execute("ROLLBACK;")
            raise

    def _enable_wal(self) -> None:
        try:
            mode = str(self.writer.execute("PRAGMA journal_mode = wal;").fetchall()[0][0])
        except apsw.Error as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            cls = DatabaseBusyError if is_busy(exc) else DatabaseError
            raise cls(f"cannot enable WAL mode on {self.path}: {msg}") from None
        if mode.lower() != "wal":
            raise DatabaseError(
                f"cannot enable WAL mode on {self.path} (journal mode stays {mode})"
            )

    # -- the long read transaction ------------------------------------------------------

    @property
    def read_locked(self) -> bool:
        return not self.reader.get_autocommit()

    def acquire_read_lock(self) -> None:
        if self.read_locked:
            return
        self.reader.execute("BEGIN;")
        try:
            self.reader.execute("SELECT COUNT(1) FROM _litestream_seq;").fetchall()
        except BaseException:
            self.reader.execute("ROLLBACK;")
            raise

    def release_read_lock(self) -> None:
        if self.read_locked:
            self.reader.execute("ROLLBACK;")

    # -- writes -------------------------------------------------------------------------

    def bump_seq(self) -> None:
        """Commit a tiny change so the WAL holds at least one frame."""
        self.writer.execute(
            "INSERT INTO _litestream_seq (id, seq) VALUES (1, 1) "
            "ON CONFLICT (id) DO UPDATE SET seq = seq + 1;"
        )

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Hold SQLite's write lock: no one can commit until the block ends (taken
        at BEGIN, so the busy timeout applies rather than an immediate snapshot error)."""
        self.writer.execute("BEGIN IMMEDIATE;")
        try:
            self.writer.execute("INSERT INTO _litestream_lock (id) VALUES (1);")
            yield
        finally:
            self.writer.execute("ROLLBACK;")

    def checkpoint(self, mode: str) -> tuple[int, int, int]:
        """Run ``wal_checkpoint(mode)`` without our read lock; (busy, log, checkpointed).

        The read lock is taken again before returning, even on error: a replicator
        without it would let the application restart the WAL behind our back.
        """
        if mode not in CHECKPOINT_MODES:
            raise ValueError(f"unknown checkpoint mode {mode!r}")
        self.release_read_lock()
        try:
            row = self.reader.execute(f"PRAGMA wal_checkpoint({mode});").fetchall()[0]
        finally:
            self.acquire_read_lock()
        return _int(row[0]), _int(row[1]), _int(row[2])

    def forget_wal_on_close(self) -> None:
        """Let SQLite checkpoint and delete the WAL and -shm when we close last.

        Only for a database that was replaced under us, whose old WAL must not be
        paired with the new file: SQLite removes those files by name, so the caller
        first makes sure the names still point at the old files.
        """
        flag = ctypes.c_int(0)
        for conn in (self.reader, self.writer):
            with contextlib.suppress(apsw.Error):
                conn.file_control("main", apsw.SQLITE_FCNTL_PERSIST_WAL, ctypes.addressof(flag))

    def close(self) -> None:
        for name in ("writer", "reader"):
            conn: apsw.Connection | None = getattr(self, name, None)
            if conn is not None:
                with contextlib.suppress(apsw.Error):
                    conn.close(True)


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise DatabaseError(f"unexpected SQLite result {value!r}")
    return value


def wal_path(path: Path) -> Path:
    return Path(os.fspath(path) + "-wal")
