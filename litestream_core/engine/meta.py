"""The local meta directory: ``<dir>/.<name>-litestream/ltx/<level>/<min>-<max>.ltx``.

Same layout as Go's ``MetaPath``/``LTXDir``, so either tool can pick up the other's
local state. Files appear atomically (temporary file, fsync, rename, fsync of the
directory): a crash leaves either the whole file or a ``*.tmp`` that the next start
removes, never a torn file that would later read as a position.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from litestream_core.client import LTXFileInfo
from litestream_core.ltx import format_filename, parse_filename

META_DIR_SUFFIX = "-litestream"
TMP_SUFFIX = ".tmp"
SCRATCH_PREFIX = ".compact-"
"""The compactor's scratch directories in the meta directory (their files end in .tmp)."""
T = TypeVar("T")


def default_meta_path(db_path: Path) -> Path:
    """Go's default: a hidden directory beside the database."""
    return db_path.parent / f".{db_path.name}{META_DIR_SUFFIX}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MetaDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    def ltx_dir(self, level: int) -> Path:
        return self.root / "ltx" / str(level)

    def ltx_path(self, level: int, min_txid: int, max_txid: int) -> Path:
        return self.ltx_dir(level) / format_filename(min_txid, max_txid)

    def files(self, level: int) -> list[LTXFileInfo]:
        """Files of a level in ascending TXID order; other names are ignored."""
        found: list[LTXFileInfo] = []
        for entry in self._entries(level):
            try:
                lo, hi = parse_filename(entry.name)
                st = entry.stat()
            except (ValueError, FileNotFoundError):
                continue
            created = datetime.fromtimestamp(st.st_mtime, UTC)
            found.append(LTXFileInfo(level, lo, hi, st.st_size, created))
        found.sort(key=lambda f: (f.min_txid, f.max_txid))
        return found

    def _entries(self, level: int) -> Iterator[os.DirEntry[str]]:
        try:
            with os.scandir(self.ltx_dir(level)) as it:
                yield from it
        except FileNotFoundError:
            return

    def remove_tmp_files(self) -> None:
        """Drop half-written files a crash left behind (Go's ``removeTmpFiles``), and the
        compactor's scratch directories (``.compact-*``) that held them."""
        for dirpath, dirnames, names in os.walk(self.root, topdown=False):
            for name in names:
                if name.endswith(TMP_SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(dirpath, name))
            for name in dirnames:
                if name.startswith(SCRATCH_PREFIX):
                    with contextlib.suppress(OSError):  # not empty: not only ours
                        os.rmdir(os.path.join(dirpath, name))

    def write_atomic(
        self, level: int, min_txid: int, max_txid: int, write: Callable[[BinaryIO], T]
    ) -> tuple[T, int]:
        """Create a file through ``write`` so that it appears whole or not at all;
        returns what ``write`` returned and the file's size."""
        final = self.ltx_path(level, min_txid, max_txid)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + TMP_SUFFIX)
        try:
            with open(tmp, "wb") as out:
                result = write(out)
                out.flush()
                os.fsync(out.fileno())
                size = out.tell()
            os.replace(tmp, final)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if isinstance(exc, OSError) and exc.filename is None and exc.strerror:
                # A failed write() names no file; the log line should ("disk full: where?").
                raise OSError(exc.errno, exc.strerror, str(tmp)) from exc
            raise
        fsync_dir(final.parent)
        return result, size

    def remove(self, level: int, up_to_txid: int, keep: int | None = None) -> None:
        """Delete files whose max TXID is at most ``up_to_txid``, except TXID ``keep``."""
        for info in self.files(level):
            if info.max_txid <= up_to_txid and info.max_txid != keep:
                with contextlib.suppress(FileNotFoundError):
                    self.ltx_path(level, info.min_txid, info.max_txid).unlink()
