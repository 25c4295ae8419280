"""The replica identity: which database a replica belongs to.

Two databases configured with one replica URL would interleave their LTX files (and Go
Litestream lets them). So a replica we write carries a small identity object naming the
database (a random database ID, its path and host) and the first L0 file it uploaded
there. A replicator whose database is not the one named refuses to write; restore and
``verify`` check the object against the files.

Where it lives. The object is written through the ReplicaClient contract, so every
backend, third-party ones included, stores it without a line of code: it is an LTX file
(its pages hold the JSON) at level ``IDENTITY_LEVEL``, e.g. ``<path>/ltx/10/`` on a
file replica or ``<path>/000a/`` on S3. Go Litestream reads only levels 0 to 9 (its
snapshot level), so it restores from and replicates to such a replica unharmed, and its
``DeleteAll`` removes the object with the rest.

The database side. The database ID is kept in the meta directory (``database-id``), so
a replicator restarted on the same database matches. A restore from a replica with an
identity writes the replica's ID there for the restored database, so restoring and then
replicating to the same replica (Go's #781 path) is the same database. A meta
directory without an ID (first run, or deleted) matches a replica whose identity names
the same path on the same host; anything else is refused with what to do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from litestream_core.client import LTXFileInfo, ReplicaClient
from litestream_core.encryption.layout import is_sealed
from litestream_core.errors import (
    IdentityError,
    LTXError,
    LTXNotFoundError,
    ReplicaOwnedError,
)
from litestream_core.ltx import (
    HEADER_FLAG_NO_CHECKSUM,
    TRAILER_SIZE,
    Header,
    Trailer,
    decode_file,
    encode_file,
    format_filename,
)

log = logging.getLogger("litestream.identity")

IDENTITY_LEVEL = 10
"""Above Go's snapshot level (9), the highest level Go Litestream ever lists."""
IDENTITY_TXID = 1
DATABASE_ID_FILE = "database-id"
_FORMAT = 1
_PAGE_SIZE = 4096
_MAX_SIZE = 1 << 20


@dataclass(frozen=True)
class FileMark:
    """One file on the replica, recognisable by its name, size and file checksum."""

    level: int
    min_txid: int
    max_txid: int
    size: int
    file_checksum: int

    @property
    def name(self) -> str:
        return format_filename(self.min_txid, self.max_txid)


@dataclass(frozen=True)
class ReplicaIdentity:
    """What the identity object says. The path and host are for people (messages, and
    telling a lost meta directory from another machine's database); the ID decides."""

    database_id: str
    database: str
    host: str
    created_ms: int
    first_file: FileMark | None = None
    """The first L0 file the database uploaded here (None until then)."""
    previous: str | None = None
    """The database the replica belonged to before ``reset -takeover``."""

    def describe(self) -> str:
        return f"{self.database} on host {self.host} (database ID {self.database_id[:12]})"

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["litestream_replica_identity"] = _FORMAT
        return body

    def encode(self) -> bytes:
        """The identity as a valid LTX file: JSON in its pages, padded with zeros."""
        return json_ltx(self.to_json(), IDENTITY_TXID, self.created_ms)

    @classmethod
    def decode(cls, data: bytes) -> ReplicaIdentity:
        try:
            body = json_of_ltx(data)
            if body.get("litestream_replica_identity") != _FORMAT:
                raise ValueError("unknown identity format")
            mark = body.get("first_file")
            return cls(
                database_id=str(body["database_id"]),
                database=str(body["database"]),
                host=str(body["host"]),
                created_ms=int(body["created_ms"]),
                first_file=FileMark(**mark) if mark else None,
                previous=str(body["previous"]) if body.get("previous") else None,
            )
        except (LTXError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if is_sealed(data[:12]):
                raise  # an encrypted replica read without its keys: that error says so
            detail = exc.one_line() if isinstance(exc, LTXError) else str(exc)
            raise IdentityError(f"replica identity object is unreadable: {detail}") from None


def json_ltx(body: dict[str, Any], txid: int, timestamp_ms: int) -> bytes:
    """A small JSON object as a valid LTX file at ``txid`` (its pages hold the text):
    replica objects of ours that Go must be able to list past or delete with the rest."""
    data = json.dumps(body, sort_keys=True).encode()
    count = max(1, -(-len(data) // _PAGE_SIZE))
    data = data.ljust(count * _PAGE_SIZE, b"\0")
    pages = [(i + 1, data[i * _PAGE_SIZE : (i + 1) * _PAGE_SIZE]) for i in range(count)]
    header = Header(
        page_size=_PAGE_SIZE, commit=count, min_txid=txid, max_txid=txid,
        timestamp=timestamp_ms, flags=HEADER_FLAG_NO_CHECKSUM,
    )  # fmt: skip
    return encode_file(header, pages, 0)


def json_of_ltx(data: bytes) -> Any:
    """The JSON ``json_ltx`` stored (LTXError or ValueError if it is not one)."""
    _, pages, _ = decode_file(data)
    return json.loads(b"".join(p for _, p in pages).rstrip(b"\0"))


async def read_small(client: ReplicaClient, level: int, txid: int) -> bytes | None:
    """A small replica object's bytes (None if absent); larger than 1 MiB is an error."""
    try:
        stream = await client.open_ltx_file(level, txid, txid)
    except LTXNotFoundError:
        return None
    parts: list[bytes] = []
    size = 0
    async with stream:  # a read may return part of what is left: read to the end
        while size <= _MAX_SIZE and (chunk := await stream.read(_MAX_SIZE + 1 - size)):
            parts.append(chunk)
            size += len(chunk)
    if size > _MAX_SIZE:
        raise IdentityError(f"replica object at level {level} is larger than {_MAX_SIZE} bytes")
    return b"".join(parts)


async def read_identity(client: ReplicaClient) -> ReplicaIdentity | None:
    """The replica's identity, or None if it has none (new, or written by Go)."""
    data = await read_small(client, IDENTITY_LEVEL, IDENTITY_TXID)
    return None if data is None else ReplicaIdentity.decode(data)


async def write_identity(client: ReplicaClient, identity: ReplicaIdentity) -> None:
    await client.write_ltx_file(IDENTITY_LEVEL, IDENTITY_TXID, IDENTITY_TXID, identity.encode())


def local_database_id(meta_path: Path) -> str | None:
    """The database ID recorded in a database's meta directory, if any."""
    try:
        text = (meta_path / DATABASE_ID_FILE).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text or None


def record_database_id(meta_path: Path, database_id: str) -> None:
    """Write the ID atomically (a torn ID would refuse the database its own replica)."""
    meta_path.mkdir(parents=True, exist_ok=True)
    final = meta_path / DATABASE_ID_FILE
    tmp = final.with_name(f".{DATABASE_ID_FILE}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(database_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def new_identity(
    db_path: Path, database_id: str | None, previous: str | None = None
) -> ReplicaIdentity:
    return ReplicaIdentity(
        database_id=database_id or os.urandom(16).hex(),
        database=str(db_path),
        host=socket.gethostname(),
        created_ms=int(time.time() * 1000),
        previous=previous,
    )


async def check_replica(
    client: ReplicaClient, db_path: Path, meta_path: Path, where: str
) -> ReplicaIdentity | None:
    """The replica's identity if it names this database, None if it has none; raises
    ReplicaOwnedError if it names another database or cannot be read. Writes nothing.

    ``where`` is the replica as the user knows it (its redacted URL), for the message.
    """
    try:
        found = await read_identity(client)
    except IdentityError as exc:
        raise ReplicaOwnedError(
            f"replica {where}: {exc}; cannot tell which database it belongs to",
            hint=_HOW_TO_PROCEED,
        ) from None
    if found is None:
        return None
    local = local_database_id(meta_path)
    if found.database_id == local:
        return found
    if local is None and found.database == str(db_path) and found.host == socket.gethostname():
        # The meta directory was lost (or the database restored in place by a tool that
        # does not record the ID): same path, same host, so the same database.
        return found
    ours = f"database ID {local[:12]}" if local else "no database ID recorded"
    raise ReplicaOwnedError(
        f"replica {where} belongs to {found.describe()}, not to {db_path} "
        f"on host {socket.gethostname()} ({ours}); refusing to write to it",
        hint=_HOW_TO_PROCEED,
    )


async def claim_replica(
    client: ReplicaClient,
    db_path: Path,
    meta_path: Path,
    where: str,
    found: ReplicaIdentity | None,
) -> ReplicaIdentity:
    """Make ``found`` (what ``check_replica`` returned) this database's claim: write an
    identity if the replica has none, and record the database ID in the meta directory.
    """
    local = local_database_id(meta_path)
    if found is None:
        if local is None:
            # Recorded before the first await: the other replicas of this database,
            # claiming at the same time on this loop, then name the same ID.
            local = os.urandom(16).hex()
            record_database_id(meta_path, local)
        found = new_identity(db_path, local)
        await write_identity(client, found)
        log.info("the replica now names this database as its own",
                 extra={"replica": where, "identity": found.describe()})  # fmt: skip
    if local != found.database_id:
        record_database_id(meta_path, found.database_id)
    return found


_HOW_TO_PROCEED = (
    "use a new replica path for this database, or, if this database should own the "
    "replica from now on, stop it and run `litestream reset -takeover -config PATH DB` "
    "(or `-replica URL` instead of -config)"
)


async def take_over(
    client: ReplicaClient, db_path: Path, meta_path: Path
) -> tuple[ReplicaIdentity | None, ReplicaIdentity]:
    """Make the replica name this database, whatever it named before (no file deleted)."""
    try:
        previous = await read_identity(client)
    except IdentityError:
        previous = None
    identity = new_identity(
        db_path, local_database_id(meta_path), previous.describe() if previous else None
    )
    await write_identity(client, identity)
    record_database_id(meta_path, identity.database_id)
    return previous, identity


async def note_first_upload(
    client: ReplicaClient, identity: ReplicaIdentity, info: LTXFileInfo, trailer: Trailer
) -> ReplicaIdentity:
    """Record the first L0 file uploaded as the identity's fingerprint of its files.

    Written over the identity this replicator claimed at start, without reading it
    again: a download in the upload path would be one more request to cancel at every
    shutdown, and a takeover since the start is found by the periodic read
    (``Replica._check_identity``), which stops this replicator.
    """
    mark = FileMark(info.level, info.min_txid, info.max_txid, info.size, trailer.file_checksum)
    updated = replace(identity, first_file=mark)
    await write_identity(client, updated)
    return updated


async def fingerprint_problem(client: ReplicaClient, identity: ReplicaIdentity) -> str | None:
    """Why the replica's files cannot be the ones its identity names, or None.

    The identity's first file, while still on the replica (retention removes old L0
    files), must be exactly the file recorded: another database's identity, or an
    identity copied beside another database's files, names a file that differs.
    """
    mark = identity.first_file
    if mark is None:
        return None
    try:
        stream = await client.open_ltx_file(
            mark.level, mark.min_txid, mark.max_txid, offset=max(0, mark.size - TRAILER_SIZE),
            size=TRAILER_SIZE,
        )  # fmt: skip
    except LTXNotFoundError:
        return None
    async with stream:
        tail = await stream.readall()
    try:
        matches = Trailer.decode(tail[-TRAILER_SIZE:]).file_checksum == mark.file_checksum
    except LTXError:
        matches = False
    if matches and len(tail) == TRAILER_SIZE:
        return None
    return (
        f"the replica identity names {identity.describe()}, but its first file "
        f"(level {mark.level}, {mark.name}) on the replica is not the one that database "
        "uploaded: the identity and the files belong to different databases"
    )
