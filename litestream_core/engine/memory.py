"""Process-wide limits of a replicator serving many databases.

Resident memory flat: glibc's allocator, told not to hoard.

Blocking work runs on a pool of threads, and glibc gives each thread that allocates an
arena of its own (up to eight per core); large buffers (WAL reads, LTX files read
whole for upload) also raise the size under which freed memory is kept for reuse
instead of returned. Together they made RSS climb from 57 to 124 MB in 90 seconds at
1000 transactions a second, with no live object growing. Two arenas and a fixed
256 KiB threshold keep it flat at the idle level (``bench/cost.py --long``).

Open files: each database holds about nine descriptors (two SQLite connections, the
WAL and database read directly, the wal-index, the replication lock), so the soft
limit is raised to the hard one, as Go's runtime does for every Go program.
"""

from __future__ import annotations

import ctypes
import sys

try:
    import resource
except ImportError:  # not POSIX
    resource = None  # type: ignore[assignment]

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 << 10
ARENAS = 2


def tune_malloc() -> bool:
    """Apply the settings above (glibc only); False where there is nothing to tune.

    Call it early, before threads start allocating: arenas already made stay.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok_arenas = mallopt(M_ARENA_MAX, ARENAS)
    ok_threshold = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(ok_arenas and ok_threshold)


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the soft limit."""
    if resource is None:
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError):
            pass
    return int(soft)
