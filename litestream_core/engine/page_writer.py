"""Writing a restore's pages so the disk works while we decode, not after.

Pages are written where they are decoded (handing them to a writer thread was
measured: on this 2-core machine under load it cost more CPU and was no faster, since
the decoder holds the GIL and python-lz4 releases it on every page). What runs beside
the decoding is the writeback: every ``sync_every`` bytes written, a thread calls
``fdatasync`` on the file, so the data is on its way to disk during the restore and the
restore's one final ``fsync`` (which stays, unchanged) finds little left to write
instead of the whole database.

An error of that thread is kept and raised to the restore: an early ``fdatasync`` that
fails may not fail again at the final ``fsync`` (Linux reports a writeback error once
per open file), so it must not be lost. Errors are RestoreErrors naming the database
being written (a full disk is not the replica's fault, and is not retried).
"""

from __future__ import annotations

import os
import threading

from litestream_core.errors import RestoreError

_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has only fsync


class PageWriter:
    """Writes runs of consecutive pages to ``fd``; syncs in the background as it goes."""

    def __init__(self, fd: int, name: str, *, sync_every: int = 64 << 20) -> None:
        self._fd = fd
        self._name = name
        self._sync_every = sync_every
        self._unsynced = 0
        self._error: RestoreError | None = None
        self._sync_wanted = threading.Event()
        self._requested = False
        self._closing = False
        self._syncer: threading.Thread | None = None  # started once there is enough

    def write(self, pages: list[bytes], offset: int) -> None:
        """Write consecutive pages at ``offset`` (raising an earlier sync's error first)."""
        self.raise_error()
        try:
            self._unsynced += write_pages(self._fd, pages, offset)
        except OSError as exc:
            raise self._failed(exc) from None
        if self._unsynced >= self._sync_every:
            self._unsynced = 0
            if self._syncer is None:
                self._syncer = threading.Thread(target=self._sync_loop, name="restore-sync")
                self._syncer.start()
            self._requested = True
            self._sync_wanted.set()

    def raise_error(self) -> None:
        """Raise the background sync's error, if it had one."""
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the background sync once every sync asked for is done; idempotent, never
        raises: ``raise_error`` tells whether the syncs went well."""
        self._closing = True
        if self._syncer is not None:
            self._sync_wanted.set()
            self._syncer.join()

    def _sync_loop(self) -> None:
        while True:
            self._sync_wanted.wait()
            self._sync_wanted.clear()
            closing = self._closing  # read first: every request made before it is served
            while self._requested:
                self._requested = False
                try:
                    _fdatasync(self._fd)
                except OSError as exc:
                    self._error = self._failed(exc)
                    return
            if closing:
                return

    def _failed(self, exc: OSError) -> RestoreError:
        return RestoreError(f"write {self._name}: {exc.strerror or exc}")


def write_pages(fd: int, pages: list[bytes], offset: int) -> int:
    """Write consecutive pages at ``offset``, finishing any short write; returns bytes."""
    done = os.pwritev(fd, pages, offset)
    total = sum(map(len, pages))
    if done < total:
        rest = memoryview(b"".join(pages))
        while done < total:
            done += os.pwrite(fd, rest[done:], offset + done)
    return total
