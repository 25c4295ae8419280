"""The APSW VFS that serves replica databases to SQLite.

One VFS named ``litestream-py`` is registered per process; each opened replica gets a
private file name in it, mapped to its ReplicaDatabase. Everything else SQLite opens
(temporary files for sorting, say) goes to the default VFS.

Consistency: the first lock of a read transaction pins the database's current state
and every read until the lock is released comes from that one TXID; the next
transaction pins whatever is newest then. Page 1 is served in rollback-journal mode
with a change counter derived from the TXID, so SQLite keeps its page cache while the
TXID stays and drops it when the TXID moves (or time travel changes it).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import threading
from typing import Any

import apsw

from litestream_core.engine.follow import reader_header
from litestream_core.errors import describe
from litestream_core.vfs.database import ReplicaDatabase
from litestream_core.vfs.state import State

VFS_NAME = "litestream-py"
"""Not Go's "litestream", so both extensions can be loaded in one process."""
_PREFIX = "litestream-replica-"
_names = itertools.count(1)
_registry: dict[str, ReplicaDatabase] = {}
_files: dict[str, _ReplicaFile] = {}
_lock = threading.Lock()
_vfs: _ReplicaVFS | None = None


def register(db: ReplicaDatabase) -> str:
    """A file name under which SQLite opens ``db`` through our VFS."""
    global _vfs
    with _lock:
        if _vfs is None:
            _vfs = _ReplicaVFS()
            atexit.register(_close_all)
        name = f"{_PREFIX}{next(_names)}.db"
        _registry[name] = db
    return name


def _close_all() -> None:
    """At exit, while the replica loop still runs: a connection left open is closed
    by the garbage collector later, when waiting for the loop would hang."""
    for db in list(_registry.values()):
        with contextlib.suppress(Exception):
            db.close()


def file_of(name: str) -> _ReplicaFile | None:
    """The open main-database file of ``name`` (for the SQL functions)."""
    return _files.get(name)


def unregister(name: str) -> None:
    with _lock:
        _registry.pop(name, None)
        _files.pop(name, None)


def _ours(name: str) -> str | None:
    """The registered name ``name`` belongs to (its journal or WAL included), if any."""
    if not name.startswith(_PREFIX):
        return None
    base = name.split(".db", 1)[0] + ".db"
    return base if base in _registry else None


class _ReplicaVFS(apsw.VFS):
    def __init__(self) -> None:
        base = "unix" if "unix" in apsw.vfs_names() else apsw.vfs_names()[0]
        super().__init__(VFS_NAME, base=base)

    def xOpen(self, name: Any, flags: list[int]) -> Any:
        text = name.filename() if isinstance(name, apsw.URIFilename) else name
        db = _registry.get(text) if isinstance(text, str) else None
        if db is None:
            return super().xOpen(name, flags)
        if not flags[0] & apsw.SQLITE_OPEN_MAIN_DB:
            raise apsw.CantOpenError(f"{text}: only the database itself can be opened")
        flags[1] = apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_MAIN_DB
        file = _ReplicaFile(text, db)
        _files[text] = file
        return file

    def xAccess(self, pathname: str, flags: int) -> bool:
        base = _ours(pathname)
        if base is not None:
            return pathname == base  # never a journal or WAL beside a replica
        return bool(super().xAccess(pathname, flags))

    def xFullPathname(self, name: str) -> str:
        return name if _ours(name) is not None else str(super().xFullPathname(name))

    def xDelete(self, filename: str, syncdir: bool) -> None:
        if _ours(filename) is not None:
            return
        super().xDelete(filename, syncdir)


class _ReplicaFile:
    """The main database file of one connection (APSW calls these methods)."""

    def __init__(self, name: str, db: ReplicaDatabase) -> None:
        self.name = name
        self.db = db
        self.pinned: State | None = None
        self.level = apsw.SQLITE_LOCK_NONE

    @property
    def state(self) -> State:
        """The state the current read transaction sees (the newest outside one)."""
        return self.pinned or self.db.state

    def xRead(self, amount: int, offset: int) -> bytes:
        state = self.state
        size = state.page_size
        out = bytearray()
        pos, end = offset, offset + amount
        try:
            while pos < end:
                pgno, within = divmod(pos, size)
                pgno += 1
                if pgno > state.commit:
                    break  # a short read: SQLite fills the rest with zeros
                page = self.db.read_page(state, pgno)
                if pgno == 1:
                    page = reader_header(page[:100], state.txid, state.commit) + page[100:]
                take = min(size - within, end - pos)
                out += page[within : within + take]
                pos += take
        except Exception as exc:
            raise apsw.IOError(f"litestream replica: {describe(exc)}") from exc
        return bytes(out)

    def xFileSize(self) -> int:
        state = self.state
        return state.commit * state.page_size

    def xLock(self, level: int) -> None:
        if level > apsw.SQLITE_LOCK_SHARED:
            raise apsw.ReadOnlyError("a litestream replica is read-only")
        if self.pinned is None and level >= apsw.SQLITE_LOCK_SHARED:
            self.pinned = self.db.state
        self.level = level

    def xUnlock(self, level: int) -> None:
        self.level = level
        if level == apsw.SQLITE_LOCK_NONE:
            self.pinned = None

    def xCheckReservedLock(self) -> bool:
        return False

    def xSectorSize(self) -> int:
        return 4096

    def xDeviceCharacteristics(self) -> int:
        return 0

    def xFileControl(self, op: int, pointer: int) -> bool:
        if op != apsw.SQLITE_FCNTL_PRAGMA:
            return False
        pragma = apsw.VFSFcntlPragma(pointer)
        try:
            answer = pragma_value(self, pragma.name.lower(), pragma.value)
        except Exception as exc:
            raise apsw.SQLError(describe(exc)) from exc
        if answer is None:
            return False
        pragma.result = answer
        return True

    def xSync(self, flags: int) -> None:
        return None

    def xWrite(self, data: bytes, offset: int) -> None:
        raise apsw.ReadOnlyError("a litestream replica is read-only")

    def xTruncate(self, size: int) -> None:
        raise apsw.ReadOnlyError("a litestream replica is read-only")

    def xClose(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()
        unregister(self.name)


def pragma_value(file: _ReplicaFile, name: str, value: str | None) -> str | None:
    """Go's PRAGMAs ``litestream_txid``, ``litestream_time`` and ``litestream_lag``, and
    ``litestream_time = <when>`` for time travel from the next transaction on; None for
    any other pragma (SQLite handles it)."""
    from litestream_core.vfs.functions import lag_seconds, parse_when, time_text

    if name == "litestream_txid" and value is None:
        return f"{file.state.txid:016x}"
    if name == "litestream_time":
        if value is not None:
            return f"{file.db.set_time(parse_when(value)).txid:016x}"
        return time_text(file.state)
    if name == "litestream_lag" and value is None:
        return str(lag_seconds(file.db))
    return None
