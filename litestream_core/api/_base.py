"""The interface both ways of replicating share, so callers never care which runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from litestream_core.api._protocol import ReplicationStatus


class Replication(ABC):
    """Replication of one database to one replica, driven from the caller's event loop."""

    @abstractmethod
    async def start(self) -> None:
        """Open the database and the replica; raises the startup error as one line."""

    @abstractmethod
    async def stop(self) -> bool:
        """Stop after a final sync; False if some changes could not be uploaded in time."""

    @abstractmethod
    async def wait_for_sync(self, timeout: float | None = None) -> int:
        """Replicate everything committed before the call; returns the replica's TXID.

        Raises TimeoutError if that takes longer than ``timeout``, or the storage error
        that stopped the upload.
        """

    @abstractmethod
    async def status(self) -> ReplicationStatus: ...

    @property
    @abstractmethod
    def txid(self) -> int:
        """The newest TXID known to be on the replica (no round trip)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
