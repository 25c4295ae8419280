"""Temporary upload files beside their target, named so that a later start can tell
which ones were abandoned.

Backends that write a temporary file and rename it into place (file, SFTP) leave it
behind when the process is killed mid-write, or when the connection is lost before
the clean-up could run. The name carries the writer's host and process id, so the next
start removes a file whose writer, on this host, is gone at once; any other leftover
(another host's, Go's ``<name>.tmp``) goes once it has not changed for ``max_age``
seconds: a live writer keeps touching its file, and one that stops longer than its
storage deadline has failed anyway.
"""

from __future__ import annotations

import os
import re
import socket

DEFAULT_STALE_AGE = 15 * 60.0
"""Seconds without a change after which any temporary LTX file counts as abandoned."""

_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:64] or "host"
_NAME = re.compile(
    r"^\.?[0-9a-f]{16}-[0-9a-f]{16}\.ltx(?:\.(?P<host>[A-Za-z0-9_-]+)~(?P<pid>\d+)\.[0-9a-f]+)?"
    r"(?:\.[^/]*)?\.tmp$"
)


def temp_name(target_name: str) -> str:
    """A hidden, unique temporary name for an upload to ``target_name``.

    ``os.urandom`` rather than ``secrets``, which would load hmac and OpenSSL's hashes
    into every process that writes a file.
    """
    return f".{target_name}.{_HOST}~{os.getpid()}.{os.urandom(6).hex()}.tmp"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary LTX file (ours, an older version's, or Go's)."""
    return _NAME.match(name) is not None


def is_stale(name: str, age: float, max_age: float = DEFAULT_STALE_AGE) -> bool:
    """Whether the temporary file ``name``, unchanged for ``age`` seconds, is abandoned.

    True once ``age`` reaches ``max_age``, or at once when its writer was a process on
    this host that no longer runs. This process's own files are never stale by pid:
    an upload may be under way.
    """
    m = _NAME.match(name)
    if m is None:
        return False
    if age >= max_age:
        return True
    if m["host"] != _HOST or m["pid"] is None:
        return False
    pid = int(m["pid"])
    return pid != os.getpid() and not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
