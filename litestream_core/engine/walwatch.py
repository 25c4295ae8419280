"""Waking a database's monitor when its WAL is written, through inotify (Linux).

Between ticks the monitor wants to hear of the first commit after a quiet spell, so
that commit reaches the replica in milliseconds instead of up to a tick later.
Polling SQLite's wal-index for it (50 reads a second) cost about 1% of a core per
idle database. The kernel tells us instead: a one-shot ``IN_MODIFY`` watch on the WAL,
armed only while the monitor waits for such a commit, costs nothing until the next
write and then fires once. One inotify descriptor serves every database on an event
loop; it is read by the loop itself (no thread) and closed when the last monitor stops.

Where inotify is missing (not Linux, or no descriptor left) ``WALWatcher.get`` gives
None, and where a watch cannot be added (the WAL is missing, the watch limit is
reached) ``arm`` returns False: the monitor then falls back to polling or ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("litestream.db")

try:
    import inotify_simple
except ImportError:  # not Linux
    inotify_simple = None

_WATCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WALWatcher] = (
    weakref.WeakKeyDictionary()
)


class WALWatcher:
    """One inotify instance per event loop, shared by that loop's monitors."""

    def __init__(self, loop: asyncio.AbstractEventLoop, notify: Any) -> None:
        self._loop = loop
        self._notify = notify
        self._users = 0
        self._wakes: dict[int, Callable[[], None]] = {}
        loop.add_reader(notify.fileno(), self._on_readable)

    @staticmethod
    @contextlib.contextmanager
    def get(loop: asyncio.AbstractEventLoop) -> Iterator[WALWatcher | None]:
        """The loop's watcher for the duration of the block (None without inotify)."""
        watcher = _WATCHERS.get(loop)
        if watcher is None and inotify_simple is not None:
            try:
                notify = inotify_simple.INotify(nonblocking=True)
            except OSError as exc:
                log.debug("inotify unavailable; monitors poll instead", extra={"error": str(exc)})
            else:
                watcher = _WATCHERS[loop] = WALWatcher(loop, notify)
        if watcher is None:
            yield None
            return
        watcher._users += 1
        try:
            yield watcher
        finally:
            watcher._users -= 1
            if not watcher._users:
                watcher._close()

    def arm(self, path: Path, wake: Callable[[], None]) -> int | None:
        """Call ``wake`` (once) at the next write to ``path``; returns the watch, or
        None if it cannot watch."""
        assert inotify_simple is not None
        mask = inotify_simple.flags.MODIFY | inotify_simple.flags.ONESHOT
        try:
            wd: int = self._notify.add_watch(path, mask)
        except OSError:
            return None
        self._wakes[wd] = wake
        return wd

    def disarm(self, wd: int) -> None:
        """Drop a watch that has not fired (its monitor stops)."""
        if wd in self._wakes:
            del self._wakes[wd]
            with contextlib.suppress(OSError):
                self._notify.rm_watch(wd)

    def _on_readable(self) -> None:
        assert inotify_simple is not None
        try:
            events = self._notify.read(timeout=0)
        except OSError:
            return
        for event in events:
            if event.mask & inotify_simple.flags.Q_OVERFLOW:
                wakes, self._wakes = self._wakes, {}
                for wake in wakes.values():
                    wake()
                continue
            # A one-shot watch is gone after its event (IN_IGNORED follows).
            fired = self._wakes.pop(event.wd, None)
            if fired is not None:
                fired()

    def _close(self) -> None:
        if _WATCHERS.get(self._loop) is self:
            del _WATCHERS[self._loop]
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._notify.fileno())
        self._notify.close()
        self._wakes.clear()
