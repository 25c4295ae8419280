"""One replicator per database: an advisory lock file in the meta directory.

Two replicators on one database would write the same TXIDs into one meta directory and
race each other's checkpoints and uploads, so their replica could hold two histories
(Go Litestream does not guard this). The lock is ``flock`` on ``<meta>/lock``, which the
kernel drops when the process dies, so a SIGKILLed replicator never leaves it stale.
``litestream reset`` checks it before deleting local state under a live replicator, and
``restore`` before writing over a database that one is replicating.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from litestream_core.errors import DatabaseError

LOCK_NAME = "lock"


class ReplicationLock:
    """Held from a database's open to its close by the process replicating it."""

    def __init__(self, meta_root: Path, db_path: Path) -> None:
        self.path = meta_root / LOCK_NAME
        self.db_path = db_path
        self._fd = -1
        self._created_dir = False

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def acquire(self) -> None:
        """Take the lock or raise a one-line DatabaseError naming the holder's pid."""
        if self.held:
            return
        self._created_dir = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise DatabaseError(
                f"{self.db_path} is already being replicated by another process{who}",
                hint="stop the other replicator first",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self.held:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1

    def abandon(self) -> None:
        """Release after a failed open, removing the meta directory if only we made it.

        A mistyped path or a file that is not a database leaves no litter beside it.
        """
        if not self.held:
            return
        if self._created_dir:
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()  # only succeeds while it is empty
        self.release()


def holder_pid(meta_root: Path) -> int | None:
    """The pid replicating the database whose meta directory this is, if any."""
    try:
        fd = os.open(meta_root / LOCK_NAME, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def refuse_if_replicated(db_path: Path, meta_root: Path, action: str) -> None:
    """Raise a one-line DatabaseError when a live replicator holds ``db_path``."""
    if (pid := holder_pid(meta_root)) is not None:
        who = f"process {pid}" if pid > 0 else "another process"
        raise DatabaseError(
            f"{db_path} is being replicated by {who}; stop replication before {action}"
        )


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    return None
