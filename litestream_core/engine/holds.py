"""Local L0 files shared by several replicas of one database.

A database's L0 files are written once and uploaded by each of its replicas on its
own schedule, so a file may only be removed once every replica holds it. A replica
that is down would then keep every file from the moment it failed, and fill the disk
during a long outage: each replica has a catch-up window (``catch-up-window``), and
once the oldest file it lacks is older than that, it stops holding files back. When it
returns, the files that would continue it are gone and it uploads a fresh snapshot
(``Replica`` does that whenever local files cannot continue its position), after
which it holds files again.

A database with one replica has no ``SharedL0``: that replica removes files as soon
as it has uploaded them, with no window, as Go does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from litestream_core.logs import format_seconds

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from litestream_core.client import LTXFileInfo

log = logging.getLogger("litestream.replica")

DEFAULT_CATCH_UP_WINDOW = 3600.0
"""Seconds a replica may lag before local files stop waiting for it (``catch-up-window``)."""


class ChangeSignal(asyncio.Event):
    """``DB.changed``: set when a new local L0 file exists, and waking every follower.

    Each replica of several waits on and clears an event of its own (``follow``), so one
    replica taking the signal never hides a new file from the others.
    """

    def __init__(self) -> None:
        super().__init__()
        self._followers: list[asyncio.Event] = []

    def follow(self) -> asyncio.Event:
        """A new event set along with this one from now on."""
        event = asyncio.Event()
        self._followers.append(event)
        return event

    def set(self) -> None:
        super().set()
        for event in self._followers:
            event.set()


class _LocalFiles(Protocol):
    """What ``SharedL0`` needs of a database (``engine.db.DB`` has it)."""

    path: Path
    changed: ChangeSignal

    def local_ltx_files(self, level: int = 0) -> list[LTXFileInfo]: ...

    async def remove_ltx_files(self, level: int, up_to_txid: int) -> None: ...


@dataclass
class _Member:
    window: float
    txid: int = 0
    """The newest TXID the replica acknowledged; kept through its failures."""
    dropped: bool = False
    """Behind for longer than ``window``: files no longer wait for it."""


class SharedL0:
    """The local L0 files of one database with several replicas; see the module doc."""

    def __init__(
        self, db: _LocalFiles, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.db = db
        self._now = now
        self._members: dict[str, _Member] = {}

    def join(self, name: str, window: float = DEFAULT_CATCH_UP_WINDOW) -> asyncio.Event:
        """Count replica ``name`` among the holders; returns its own new-file event."""
        self._members[name] = _Member(window)
        return self.db.changed.follow()

    def dropped(self, name: str) -> bool:
        """Whether files stopped waiting for replica ``name`` (it is catching up by a snapshot)."""
        return self._members[name].dropped

    def acknowledge(self, name: str, txid: int) -> None:
        """Replica ``name`` holds every file up to ``txid`` (its position moved)."""
        self._members[name].txid = txid

    async def release(self, name: str, txid: int) -> None:
        """Replica ``name`` holds every file up to ``txid``: remove what all replicas hold."""
        self.acknowledge(name, txid)
        files = self.db.local_ltx_files(0)
        up_to = min((m.txid for m in self._judge(files).values() if not m.dropped), default=txid)
        await self.db.remove_ltx_files(0, up_to)

    def _judge(self, files: list[LTXFileInfo]) -> dict[str, _Member]:
        """Drop members behind for longer than their window; take back those that local
        files continue again (after their snapshot)."""
        now = self._now()
        for name, member in self._members.items():
            lacking = next((f for f in files if f.max_txid > member.txid), None)
            if member.dropped:
                if lacking is None or lacking.min_txid <= member.txid + 1:
                    member.dropped = False
                    log.info("the replica caught up; local files wait for it again",
                             extra={"db": str(self.db.path), "replica": name})  # fmt: skip
                continue
            if lacking is None:
                continue
            behind = (now - lacking.created_at).total_seconds()
            if behind > member.window:
                member.dropped = True
                log.warning(
                    "the replica is behind by more than its catch-up window: local files no "
                    "longer wait for it; it gets a fresh snapshot when it returns",
                    extra={"db": str(self.db.path), "replica": name,
                           "behind": format_seconds(behind),
                           "window": format_seconds(member.window)},
                )  # fmt: skip
        return self._members
