"""The shared wording of storage errors that object-store backends translate.

Each backend decides from its SDK's exception which core class applies (only
TransientReplicaError is retried, so that choice is the backend's real work); the
message, the URL and the hint that users see are built here, so every backend says
"bucket 'b' does not exist" or "access ... denied ... using ..." the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from litestream_core.errors import (
    LTXNotFoundError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)


class Where:
    """What a client is touching, for error messages (never credentials).

    A backend subclasses it to set ``scheme`` (its URL scheme and message prefix) and
    ``noun`` (what the store calls a bucket).
    """

    scheme: ClassVar[str]
    noun: ClassVar[str] = "bucket"

    def __init__(self, name: str, credential_source: str) -> None:
        self.name = name
        self.credential_source = credential_source
        """Where the credentials came from, said in permission errors; may be refined
        once the SDK has found them."""

    def failure(
        self,
        op: str,
        key: str = "",
        *,
        level: int | None = None,
        min_txid: int | None = None,
        max_txid: int | None = None,
    ) -> Failure:
        """The builder of errors for ``op`` on ``key`` (no key: the bucket itself)."""
        return Failure(self, op, key, level, min_txid, max_txid)


@dataclass(frozen=True)
class Failure:
    """One failed operation; its methods make the core error to raise for it."""

    where: Where
    op: str
    key: str
    level: int | None
    min_txid: int | None
    max_txid: int | None

    @property
    def url(self) -> str:
        return f"{self.where.scheme}://{self.where.name}/{self.key}"

    @property
    def target(self) -> str:
        """The object's URL, or the bucket named as such when the operation had no key."""
        return self.url if self.key else f"{self.where.noun} {self.where.name!r}"

    def error(
        self, cls: type[ReplicaClientError], message: str, hint: str | None = None
    ) -> ReplicaClientError:
        """``cls`` with ``message`` (already prefixed) and where it happened."""
        return cls(
            message,
            op=self.op,
            url=self.url,
            level=self.level,
            min_txid=self.min_txid,
            max_txid=self.max_txid,
            hint=hint,
        )

    def missing_bucket(self) -> ReplicaClientError:
        """The bucket is absent: not transient, the user has to create or correct it."""
        noun, name = self.where.noun, self.where.name
        return self.error(
            ReplicaClientError,
            f"{self.where.scheme}: {noun} {name!r} does not exist",
            f"create the {noun} or correct the replica's bucket",
        )

    def not_found(self) -> ReplicaClientError:
        return self.error(LTXNotFoundError, f"{self.where.scheme}: {self.target} not found")

    def denied(self, why: str, credentials: str | None = None) -> ReplicaClientError:
        """Refused credentials, naming where they came from (``credentials`` overrides)."""
        using = self.where.credential_source if credentials is None else credentials
        return self.error(
            ReplicaPermissionError,
            f"{self.where.scheme}: access to {self.where.noun} {self.where.name!r} "
            f"denied ({why}) using {using}",
        )

    def failed(self, cls: type[ReplicaClientError], detail: str) -> ReplicaClientError:
        """``cls`` for this operation, with the storage's own words in ``detail``."""
        return self.error(cls, f"{self.where.scheme}: {self.op} {self.target}: {detail}")

    def unexpected(self, exc: BaseException, detail: str) -> ReplicaClientError:
        """An error the backend does not classify: not retried, its type named."""
        return self.failed(ReplicaClientError, f"{type(exc).__name__}: {detail}")


STATUS_CLASSES: tuple[tuple[str, type[ReplicaClientError]], ...] = (
    ("401, 403", ReplicaPermissionError),
    ("404", LTXNotFoundError),
    ("408, 429, 5xx", TransientReplicaError),
    ("any other", ReplicaClientError),
)
"""The one mapping from a storage's HTTP status to the core's error class, as the
docs' table (docs/plugins/writing-a-backend.md) lists it; a test keeps the two equal.
Only TransientReplicaError is retried; a permission error needs the user."""


def status_class(status: int) -> type[ReplicaClientError]:
    """The class for an HTTP error status (``STATUS_CLASSES``).

    A backend decides 404 itself where it can: a missing bucket is not a missing file
    (``Failure.missing_bucket``).
    """
    if status in (401, 403):
        return ReplicaPermissionError
    if status == 404:
        return LTXNotFoundError
    if status in (408, 429) or status >= 500:
        return TransientReplicaError
    return ReplicaClientError


def one_line(exc: BaseException) -> str:
    """The exception's text with its white space folded, so a message stays one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
