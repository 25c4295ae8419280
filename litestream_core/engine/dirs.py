"""Directory replication: the SQLite databases of a ``dir:`` entry, found and followed.

A file is a database when its name matches the entry's pattern and it starts with
SQLite's 16-byte header, as in Go; each one is replicated with the entry's settings at
its own replica location and meta path (``DirConfig.database``).

With ``watch: true`` a ``DirectoryWatcher`` follows the directory through filesystem
events (watchdog: inotify on Linux, FSEvents or kqueue elsewhere), never by polling.
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
import logging
import os
from collections.abc import Iterable, Set
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from litestream_core.config import DirConfig
from litestream_core.engine.meta import META_DIR_SUFFIX
from litestream_core.errors import ConfigError, describe

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

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
        self._observer: BaseObserver | None = None
        self._touched: set[Path] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._work: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Watch the directory, then look at all of it once: a database created between
        the start-up scan and the first event is not missed."""
        self._loop = asyncio.get_running_loop()
        self._observer = await asyncio.to_thread(self._observe)
        self._touch([self.entry.dir])

    def _observe(self) -> BaseObserver:
        from watchdog.observers import Observer

        observer = Observer()
        observer.schedule(
            _Handler(self),
            str(self.entry.dir),
            recursive=self.entry.recursive,
            # No modification events: a busy database's WAL writes would all arrive.
            event_filter=[FileCreatedEvent, FileDeletedEvent, FileMovedEvent, FileClosedEvent,
                          DirCreatedEvent, DirDeletedEvent, DirMovedEvent],
        )  # fmt: skip
        observer.daemon = True
        observer.start()
        return observer

    async def close(self) -> None:
        """Stop watching; the databases stay in the store (it closes them itself)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._work is not None:
            self._work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._work
        if self._observer is not None:
            observer, self._observer = self._observer, None
            await asyncio.to_thread(_stop, observer)

    # -- events (the watchdog thread) ----------------------------------------------------

    def on_event(self, paths: Iterable[str | bytes]) -> None:
        """Called from the watchdog thread with the paths an event names."""
        wanted = [p for p in (self._interesting(Path(os.fsdecode(raw))) for raw in paths) if p]
        if wanted and self._loop is not None and not self._closed:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._touch, wanted)

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


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: DirectoryWatcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        paths = [event.src_path]
        if event.dest_path:
            paths.append(event.dest_path)
        self.watcher.on_event(paths)


def _stop(observer: BaseObserver) -> None:
    observer.stop()
    observer.join(timeout=5)
