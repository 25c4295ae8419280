"""Writing a restore's pages from threads of their own, so the disk works while we decode.

Decoding is Python and holds the GIL; ``pwritev`` and ``fdatasync`` release it. Handed
to a writer thread, the kernel's copying of pages overlaps the decoding of the next
ones, and a second thread starts their way to disk every ``sync_every`` bytes, so the
restore's one final ``fsync`` (which stays, unchanged) finds little left to write
instead of the whole database. Memory stays bounded: at most ``depth`` runs wait.

Any error of either thread is kept and raised to the decoding thread at its next
write or drain: an early ``fdatasync`` that fails may not fail again at the final
``fsync`` (Linux reports a writeback error once per open file), so it must not be lost.
"""

from __future__ import annotations

import os
import queue
import threading

_STOP = None
_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has only fsync


class PageWriter:
    """Writes (offset, consecutive pages) runs to ``fd`` in order, from a thread."""

    def __init__(self, fd: int, *, depth: int = 4, sync_every: int = 64 << 20) -> None:
        self._fd = fd
        self._sync_every = sync_every
        self._runs: queue.Queue[tuple[int, list[bytes]] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._unsynced = 0
        self._sync_wanted = threading.Event()
        self._closing = False
        self._writer = threading.Thread(target=self._write_loop, name="restore-writer")
        self._syncer = threading.Thread(target=self._sync_loop, name="restore-syncer")
        self._writer.start()
        self._syncer.start()

    def write(self, pages: list[bytes], offset: int) -> None:
        """Queue one run; blocks while ``depth`` runs wait (bounded memory)."""
        self._raise_error()
        self._runs.put((offset, pages))

    def drain(self) -> None:
        """Wait until every queued run is written (before reading or truncating the file)."""
        self._runs.join()
        self._raise_error()

    def close(self) -> None:
        """Stop both threads, after the runs already queued; idempotent, never raises.

        Errors are raised by ``drain``, which callers that succeed call first.
        """
        if self._closing:
            return
        self._closing = True
        self._runs.put(_STOP)
        self._writer.join()
        self._sync_wanted.set()
        self._syncer.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _write_loop(self) -> None:
        runs = self._runs
        while (item := runs.get()) is not _STOP:
            try:
                if self._error is None:  # after an error: only empty the queue
                    offset, pages = item
                    self._unsynced += write_pages(self._fd, pages, offset)
                    if self._unsynced >= self._sync_every:
                        self._unsynced = 0
                        self._sync_wanted.set()
            except BaseException as exc:
                self._error = exc
            finally:
                runs.task_done()
        runs.task_done()

    def _sync_loop(self) -> None:
        while True:
            self._sync_wanted.wait()
            self._sync_wanted.clear()
            if self._closing:
                return
            try:
                _fdatasync(self._fd)
            except OSError as exc:
                self._error = self._error or exc
                return


def write_pages(fd: int, pages: list[bytes], offset: int) -> int:
    """Write consecutive pages at ``offset``, finishing any short write; returns bytes."""
    done = os.pwritev(fd, pages, offset)
    total = sum(map(len, pages))
    if done < total:
        rest = memoryview(b"".join(pages))
        while done < total:
            done += os.pwrite(fd, rest[done:], offset + done)
    return total
