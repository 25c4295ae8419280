"""The installed plugins' entry points, remembered between runs of ``litestream``.

Finding plugins through ``importlib.metadata`` and checking each one's requirement on
the core with ``packaging`` costs every command that needs a plugin (a restore from a
``file://`` URL too) about as much as the rest of its start-up, and keeps some 2 MB of
modules resident in a replicator that never looks at them again. What the scan finds
changes only when distributions are installed or removed, so its result is kept in
the user's cache directory and used while the places it came from are unchanged:

- every ``sys.path`` entry has the modification time it had (installing, upgrading or
  removing a distribution adds, replaces or deletes a ``.dist-info`` directory in one
  of them, which changes that directory's time), and every ``.dist-info`` directory
  that declared a plugin too;
- the interpreter and ``sys.path`` are the same (the file's name comes from them).

A time too close to the moment of the scan is not trusted (a second install in the
same clock tick would leave it unchanged, the "racy" case git's index knows), so such
a scan is not kept. ``litestream plugins`` always scans afresh. An index that is
missing, unreadable or stale means a full scan, never a failure; the cache directory
is ``$XDG_CACHE_HOME/litestream`` (``~/.cache/litestream``), and an unwritable one just
means scanning each time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib import metadata

FORMAT = 1
RACY_SECONDS = 2.0
"""A directory changed this recently may change again without its time moving."""


@dataclass(frozen=True, slots=True)
class Found:
    """One entry point of the plugin group, as the scan saw it."""

    name: str
    value: str
    """``module`` or ``module:attribute``, as in ``entry_points.txt``."""
    distribution: str | None
    version: str | None
    incompatible: str | None
    """Why the distribution cannot run with this core (from its requirements), or None."""
    location: str | None
    """Its ``.dist-info`` directory, when it is one."""

    def load(self) -> object:
        """Import the plugin, as ``EntryPoint.load`` does (extras are ignored there too)."""
        from pkgutil import resolve_name

        target = self.value.split("[", 1)[0].strip()
        return resolve_name(target if ":" in target else f"{target}:")


@dataclass(frozen=True, slots=True)
class Scan:
    """The installed core's version and the group's entry points, in discovery order."""

    core_version: str | None
    found: tuple[Found, ...]


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/litestream``, else ``~/.cache/litestream``; None when neither
    is an absolute path (the XDG rule; a user without a home keeps no index)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "litestream" if os.path.isabs(base) else None


def index_path() -> Path | None:
    """Where this interpreter and ``sys.path`` keep their index, if anywhere."""
    where = cache_dir()
    if where is None:
        return None
    ident = "\0".join([sys.executable, sys.version, *sys.path]).encode()
    return where / f"plugins-{zlib.crc32(ident):08x}.json"


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def _key(dist_dirs: Sequence[str]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "executable": sys.executable,
        "version": sys.version,
        "path": [[entry, _mtime(entry)] for entry in sys.path],
        "dists": [[d, _mtime(d)] for d in dist_dirs],
    }


def scan(
    group: str, core: str, incompatibility: Callable[[metadata.Distribution, str], str | None]
) -> Scan:
    """Every entry point of ``group`` from ``importlib.metadata`` (the full, slow way),
    with each distribution's verdict against the installed ``core``; kept for next time."""
    from importlib import metadata

    started = time.time()
    try:
        core_version: str | None = metadata.version(core)
    except metadata.PackageNotFoundError:
        core_version = None
    found: list[Found] = []
    for ep in metadata.entry_points(group=group):
        dist = ep.dist
        reason = None
        if dist is not None and core_version is not None:
            reason = incompatibility(dist, core_version)
        location = getattr(dist, "_path", None)  # PathDistribution's directory
        found.append(
            Found(
                name=ep.name, value=ep.value,
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
                incompatible=reason,
                location=os.fspath(location) if location is not None else None,
            )
        )  # fmt: skip
    result = Scan(core_version, tuple(found))
    _save(result, started)
    return result


def cached() -> Scan | None:
    """The kept scan if nothing it depends on has changed since, else None."""
    path = index_path()
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = tuple(Found(**row) for row in data["found"])
        dist_dirs = [f.location for f in found if f.location is not None]
        if data["key"] != _key(dist_dirs):
            return None
        return Scan(data["core_version"], found)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget() -> None:
    """Drop the kept scan (``litestream plugins`` shows what is installed now)."""
    path = index_path()
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def _save(result: Scan, started: float) -> None:
    dist_dirs = [f.location for f in result.found if f.location is not None]
    key = _key(dist_dirs)
    newest = max((m for _, m in key["path"] + key["dists"] if m is not None), default=0)
    if newest / 1e9 > started - RACY_SECONDS:
        return  # a change in the same tick would go unseen: scan again next time
    data = {"key": key, "core_version": result.core_version,
            "found": [asdict(f) for f in result.found]}  # fmt: skip
    path = index_path()
    if path is None:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
