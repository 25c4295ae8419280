"""Directory replication: the SQLite databases of a ``dir:`` entry, found and followed.

A file is a database when its name matches the entry's pattern and it starts with
SQLite's 16-byte header, as in Go; each one is replicated with the entry's settings at
its own replica location and meta path (``DirConfig.database``).

With ``watch: true`` a ``DirectoryWatcher`` follows the directory through filesystem
events (inotify, read by the event loop itself), never by polling.
Events only say *where* to look: after a quiet spell (Go's 250 ms debounce) each
touched path is compared with what is there now, so the order events arrive in does
not matter. A database appears when its file is created, moved in, or first written
(SQLite writes the header when it creates the ``-wal`` or ``-journal`` file, or when
the writer closes it); it is closed, after a last sync, when its file is deleted or
moved away. A file replaced under the same path (deleted and made again, or a copy
renamed over it) stays with its entry: the engine notices and replicates the new file
from a fresh snapshot. With ``recursive: true`` a new subdirectory is watched and searched at
once, so databases created in it right after it are found too (Go misses those:
upstream #1027).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Iterable, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestream_core.config import DirConfig
from litestream_core.engine.meta import META_DIR_SUFFIX
from litestream_core.errors import ConfigError, describe

try:
    import inotify_simple
except ImportError:  # not Linux
    inotify_simple = None

if TYPE_CHECKING:
    from litestream_core.engine.store import Store

__all__ = ["DEBOUNCE", "DirectoryWatcher", "find_databases", "is_sqlite_database"]

log = logging.getLogger("litestream.dir")

SQLITE_HEADER = b"SQLite format 3\x00"
DEBOUNCE = 0.25
"""Seconds of quiet before touched paths are looked at (Go's debounce interval)."""
_SIDE_FILES = ("-wal", "-shm", "-journal")


def is_sqlite_database(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a regular file starting with SQLite's header."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:  # gone, a directory, unreadable: not a database we can replicate
        return False


def _is_meta_dir(name: str) -> bool:
    """Our own meta directories (``.app.db-litestream``) hold no databases."""
    return name.startswith(".") and name.endswith(META_DIR_SUFFIX)


def find_databases(
    entry: DirConfig, under: Path | None = None, *, skip: Set[Path] = frozenset()
) -> list[Path]:
    """The databases of ``entry`` in its directory (or in its subdirectory ``under``),
    sorted; a directory that vanishes while it is read is skipped.

    Files in ``skip`` are neither opened nor returned: they are open in SQLite in this
    process, and closing any descriptor of a file drops every POSIX lock the process
    holds on it, SQLite's included (a writer closing its connection would then take
    itself for the last one and delete the WAL under replication).
    """
    start = under or entry.dir
    found: list[Path] = []
    for root, dirs, files in os.walk(start):
        base = Path(root)
        if entry.recursive:
            dirs[:] = sorted(d for d in dirs if not _is_meta_dir(d))
        else:
            dirs.clear()
        for name in sorted(files):
            path = base / name
            if path not in skip and entry.relative(path) is not None and is_sqlite_database(path):
                found.append(path)
    return found


def expand(entry: DirConfig) -> list[Path]:
    """The databases replication starts with; none is an error unless the entry
    watches (then they may come later), as in Go."""
    if not entry.dir.is_dir():
        raise ConfigError(f"{entry.location}: directory not found: {entry.dir}")
    found = find_databases(entry)
    if not found and not entry.watch:
        raise ConfigError(
            f"{entry.location}: no SQLite databases found in directory {entry.dir} "
            f"with pattern {entry.pattern}"
        )
    return found


class DirectoryWatcher:
    """Adds and removes the databases of one watched ``dir:`` entry while the store runs."""

    def __init__(self, entry: DirConfig, store: Store, known: Iterable[Path] = ()) -> None:
        self.entry = entry
        self.store = store
        self.dbs: set[Path] = set(known)
        """The databases this watcher replicates (the ones found at start-up too)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._notify: Any = None
        self._watches: dict[int, Path] = {}
        """inotify watch descriptor -> the directory it watches."""
        self._touched: set[Path] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._work: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Watch the directory, then look at all of it once: a database created between
        the start-up scan and the first event is not missed."""
        if inotify_simple is None:
            raise OSError(errno.ENOSYS, "watching a directory needs inotify (Linux)")
        self._loop = asyncio.get_running_loop()
        self._notify = inotify_simple.INotify(nonblocking=True)
        try:
            self._add_watch(self.entry.dir, strict=True)
            if self.entry.recursive:
                await asyncio.to_thread(self._watch_tree, self.entry.dir)
        except BaseException:
            self._notify.close()
            self._notify = None
            raise
        self._loop.add_reader(self._notify.fileno(), self._on_readable)
        self._touch([self.entry.dir])

    # -- watches ---------------------------------------------------------------------------

    def _add_watch(self, path: Path, *, strict: bool = False) -> None:
        """Watch one directory; a subdirectory that cannot be watched (gone already, the
        watch limit reached) is logged, the entry's own directory is an error."""
        assert inotify_simple is not None
        flags = inotify_simple.flags
        # No modification events: a busy database's WAL writes would all arrive.
        mask = (flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO
                | flags.CLOSE_WRITE | flags.ONLYDIR)  # fmt: skip
        notify = self._notify
        if notify is None:  # closed while a worker thread walked the tree
            return
        try:
            wd: int = notify.add_watch(path, mask)
        except OSError as exc:
            if strict:
                raise
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EBADF):
                log.warning("cannot watch a subdirectory; databases created in it are "
                            "found at the next event above it",
                            extra={"dir": str(path), "error": describe(exc)})  # fmt: skip
            return
        self._watches[wd] = path

    def _watch_tree(self, top: Path) -> None:
        """Watch ``top``'s subdirectories (a worker thread's job: it walks the disk).
        Watches are added before ``find_databases`` searches the same tree, so a
        database made in a new subdirectory is either found or heard of."""
        for root, dirs, _files in os.walk(top):
            dirs[:] = [d for d in dirs if not _is_meta_dir(d)]
            for d in dirs:
                self._add_watch(Path(root) / d)

    def _forget_tree(self, top: Path) -> None:
        """Drop the watches of a directory moved away: their paths no longer hold."""
        for wd, path in list(self._watches.items()):
            if path == top or top in path.parents:
                del self._watches[wd]
                with contextlib.suppress(OSError):
                    self._notify.rm_watch(wd)

    async def close(self) -> None:
        """Stop watching; the databases stay in the store (it closes them itself)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._work is not None:
            self._work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._work
        if self._notify is not None:
            notify, self._notify = self._notify, None
            assert self._loop is not None
            with contextlib.suppress(Exception):
                self._loop.remove_reader(notify.fileno())
            notify.close()
            self._watches.clear()

    # -- events (read by the loop) ---------------------------------------------------------

    def _on_readable(self) -> None:
        assert inotify_simple is not None
        flags = inotify_simple.flags
        try:
            events = self._notify.read(timeout=0)
        except OSError:
            return
        touched: list[Path] = []
        for event in events:
            if event.mask & flags.Q_OVERFLOW:  # events were lost: look at everything
                touched.append(self.entry.dir)
                continue
            if event.mask & flags.IGNORED:  # the directory is gone, and its watch
                self._watches.pop(event.wd, None)
                continue
            base = self._watches.get(event.wd)
            if base is None:
                continue
            path = base / event.name if event.name else base
            if event.mask & flags.MOVED_FROM and event.mask & flags.ISDIR:
                self._forget_tree(path)
            touched.append(path)
        wanted = [p for p in map(self._interesting, touched) if p]
        if wanted and not self._closed:
            self._touch(wanted)

    def _interesting(self, path: Path) -> Path | None:
        """The path to look at for an event on ``path``: a ``-wal`` or ``-journal`` file
        stands for its database; our meta directories' files for nothing."""
        if any(_is_meta_dir(part) for part in path.parts):
            return None
        name = path.name
        for suffix in _SIDE_FILES:
            if name.endswith(suffix):
                db = path.with_name(name[: -len(suffix)])
                return None if db in self.dbs or suffix == "-shm" else db
        return path

    # -- reconciling (the loop) ------------------------------------------------------------

    def _touch(self, paths: Iterable[Path]) -> None:
        self._touched.update(paths)
        if self._timer is None and not self._closed:
            assert self._loop is not None
            self._timer = self._loop.call_later(DEBOUNCE, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self._work is not None and not self._work.done():
            self._timer = asyncio.get_running_loop().call_later(DEBOUNCE, self._flush)
            return
        touched, self._touched = self._touched, set()
        self._work = asyncio.create_task(self._reconcile(touched), name=f"watch {self.entry.dir}")

    async def _reconcile(self, touched: set[Path]) -> None:
        """Make the store match the directory at each touched path."""
        mine = frozenset(self.dbs)
        replicated = mine | {e.db.path for e in self.store.entries}
        gone, new = await asyncio.to_thread(self._survey, touched, mine, replicated)
        for path in gone:
            await self._remove(path)
        for path in new:
            await self._add(path)

    def _survey(
        self, touched: set[Path], mine: frozenset[Path], replicated: frozenset[Path]
    ) -> tuple[list[Path], list[Path]]:
        """(this watcher's databases whose file is gone, databases not replicated yet)
        at the touched paths; a worker thread's job, as it reads the disk. A database
        the store replicates (``replicated``) is never opened: ``find_databases`` says
        why."""
        gone = [
            db for db in mine
            if any(db == t or t in db.parents for t in touched) and not os.path.isfile(db)
        ]  # fmt: skip
        new: set[Path] = set()
        for path in touched:
            if os.path.isdir(path):
                if self.entry.recursive and not _is_meta_dir(path.name):
                    if path != self.entry.dir:
                        self._add_watch(path)
                    self._watch_tree(path)
                if path == self.entry.dir or self.entry.recursive:
                    new.update(find_databases(self.entry, path, skip=replicated))
            elif (
                path not in replicated
                and self.entry.relative(path) is not None
                and is_sqlite_database(path)
            ):
                new.add(path)
        return sorted(gone), sorted(new)

    async def _add(self, path: Path) -> None:
        try:
            entry = await self.store.add(self.entry.database(path))
        except Exception as exc:
            log.error("cannot replicate a new database in the directory",
                      extra={"db": str(path), "error": describe(exc)})  # fmt: skip
            return
        if entry is None:
            log.warning("database already replicated by another config entry",
                        extra={"db": str(path)})  # fmt: skip
            return
        self.dbs.add(path)
        log.info("new database in the directory; replicating it", extra={"db": str(path)})

    async def _remove(self, path: Path) -> None:
        """Close a database whose file is gone. Its last sync usually fails (the WAL
        went with it): what was synced before is on the replica, the rest is lost with
        the file whatever we do."""
        self.dbs.discard(path)
        try:
            await self.store.unregister(path)
        except Exception as exc:
            log.warning("database removed; its last changes could not be uploaded",
                        extra={"db": str(path), "error": describe(exc)})  # fmt: skip
        log.info("database removed from the directory; stopped replicating it",
                 extra={"db": str(path)})  # fmt: skip
