"""Whether LTX files can be successive states of one database, from what the format records.

Go's files, and ours by default, carry no database checksums, so nothing in a file says
which database it came from: a valid file of another database (two replicators on one
replica path) decodes as well as our own. What the format does record is enough to
refuse such a mix in almost every case, and to refuse every mix that would leave a
page unwritten:

* **Coverage.** A restored state is only right if every page up to its commit size was
  written by the chain since the last whole-database file. Go's restore makes the same
  check (its compactor refuses "nonsequential page numbers"); a foreign file that grows
  the database leaves the pages in between unwritten.
* **WAL continuity of consecutive L0 files.** An L0 file records where in the WAL its
  frames were (offset, size) and the WAL's salts. Within one WAL generation the next
  file starts exactly where the previous one ended. A new generation (same salts no
  more) starts at the WAL header, and SQLite only ever changes the salts in place by
  restarting the WAL, which adds one to salt 1 per restart; every other change (a WAL
  deleted and created anew) makes both tools write a whole-database file instead. So a
  file that is not a whole database and breaks these rules was written from another
  WAL: another database's. Compacted files and snapshots carry no WAL position (ours
  write one on snapshots, Go's do not), so only L0 neighbours are compared.

A whole-database file (every page up to its commit) may follow anything: both tools
write one whenever they lose their position, so it begins a new run of checks. That
also means a whole foreign database appended to a chain cannot be told apart from a
snapshot by these checks; the replica identity (``identity.py``) keeps a second
replicator from writing one in the first place.
"""

from __future__ import annotations

from collections.abc import Callable

from litestream_core.ltx import Header, lock_pgno

WAL_HEADER_SIZE = 32
SALT_RESTARTS = 1 << 20
"""The most WAL restarts accepted between two consecutive L0 files.

Each restart (a checkpoint that emptied the WAL, then a write) adds one to salt 1. A
replicator away for a while may miss many; a salt of another WAL falls in this window
once in 4096 tries, and still has to start at the WAL header and pass the coverage
check.
"""
_U32 = 0xFFFFFFFF


def whole_database_pages(commit: int, page_size: int) -> int:
    """How many pages a file holding the whole database of ``commit`` pages has."""
    return commit - 1 if lock_pgno(page_size) <= commit else commit


def wal_break(prev: Header, cur: Header, cur_is_whole: bool) -> str | None:
    """Why L0 file ``cur`` cannot have been written right after L0 file ``prev``, or None.

    Files without a WAL position (offset 0: compacted, or written by a tool that does
    not record it) and whole-database files are never refused here.
    """
    if cur_is_whole or not prev.wal_offset or not cur.wal_offset:
        return None
    if (cur.wal_salt1, cur.wal_salt2) == (prev.wal_salt1, prev.wal_salt2):
        end = prev.wal_offset + prev.wal_size
        if cur.wal_offset != end:
            return (
                f"its WAL frames start at offset {cur.wal_offset}, but the previous file's "
                f"ended at {end} of the same WAL"
            )
        return None
    salts = (
        f"{cur.wal_salt1:08x}/{cur.wal_salt2:08x} after {prev.wal_salt1:08x}/{prev.wal_salt2:08x}"
    )
    if cur.wal_offset != WAL_HEADER_SIZE:
        return f"it comes from another WAL (salts {salts}) but not from its start"
    if not 1 <= (cur.wal_salt1 - prev.wal_salt1) & _U32 <= SALT_RESTARTS:
        return f"its WAL (salts {salts}) is not a restart of the previous file's WAL"
    return None


class PageCoverage:
    """Which pages of the database being rebuilt some file of the chain has written.

    One byte per page (a 10 GiB database of 4 KiB pages needs 2.5 MiB). A
    whole-database file resets it; pages past a shrinking commit are forgotten, so a
    database that grows again must get those pages from a later file.
    """

    def __init__(self) -> None:
        self._written = bytearray(1)  # index = page number; index 0 unused

    def start_file(self, commit: int, whole: bool) -> None:
        """Before a file's pages: room for its commit size (cleared for a whole database)."""
        if whole:
            self._written = bytearray(commit + 1)
        elif len(self._written) <= commit:
            self._written.extend(bytes(commit + 1 - len(self._written)))

    def mark(self, first: int, count: int) -> None:
        """Pages ``first`` .. ``first + count - 1`` were written."""
        self._written[first : first + count] = b"\x01" * count

    def end_file(self, commit: int) -> None:
        """After a file: the database now ends at ``commit``."""
        del self._written[commit + 1 :]

    def first_missing(self, page_size: int) -> int | None:
        """The lowest page up to the commit size that no file wrote (lock page aside)."""
        lock = lock_pgno(page_size)
        if lock < len(self._written):
            self._written[lock] = 1
        missing = self._written.find(0, 1)
        return None if missing < 0 else missing


def required_pages(first: int, last: int, page_size: int) -> int:
    """How many pages from ``first`` to ``last`` a file must hold (never the lock page)."""
    if last < first:
        return 0
    return last - first + 1 - (first <= lock_pgno(page_size) <= last)


def successor_problem(
    prev_commit: int,
    prev_l0: Header | None,
    level: int,
    header: Header,
    holds: Callable[[int, int], bool],
) -> str | None:
    """Why a file cannot be applied to a database of ``prev_commit`` pages, or None.

    For readers that apply files one by one to a state already known to be whole
    (follow mode, the VFS), where restore's ``PageCoverage`` would cost a pass over every
    page: a file that grows the database must hold every new page (SQLite writes them in
    the transaction that grows it, and compaction keeps the newest version of each), and
    an L0 file right after an L0 file must continue its WAL (``wal_break``).
    ``holds(first, last)`` says whether the file has every page in that range; it is
    asked only about the grown range, and about the whole database only when the WAL
    check would refuse a file that might be a whole database.
    """
    if level == 0 and prev_l0 is not None and header.min_txid == prev_l0.max_txid + 1:
        why = wal_break(prev_l0, header, False)
        if why is not None and not holds(1, header.commit):
            return f"it cannot follow TXID {header.min_txid - 1:016x}: {why}"
    if header.commit > prev_commit and not holds(prev_commit + 1, header.commit):
        return (
            f"it grows the database from {prev_commit} to {header.commit} pages without "
            "holding the new pages"
        )
    return None
