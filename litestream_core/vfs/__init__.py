"""Read a replica as a SQLite database, without restoring it.

>>> conn = open_replica("s3://bucket/app")           # doctest: +SKIP
>>> conn.execute("SELECT count(*) FROM orders").fetchall()   # doctest: +SKIP

Pages are fetched on demand with range reads through each LTX file's page index and
kept in a bounded cache; new files are polled for at an interval; each read
transaction sees one TXID; ``timestamp`` opens the state at a point in time. Works
with every backend, first- or third-party, through the ReplicaClient contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from litestream_core.vfs.cache import DEFAULT_CACHE_SIZE
from litestream_core.vfs.database import DEFAULT_POLL_INTERVAL, ReplicaDatabase

if TYPE_CHECKING:
    import apsw

    from litestream_core.client import ReplicaClient

__all__ = ["DEFAULT_CACHE_SIZE", "DEFAULT_POLL_INTERVAL", "ReplicaDatabase", "open_replica"]


def open_replica(
    url: str,
    *,
    timestamp: datetime | None = None,
    cache_size: int = DEFAULT_CACHE_SIZE,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    options: Mapping[str, Any] | None = None,
    client: ReplicaClient | None = None,
) -> apsw.Connection:
    """An ``apsw.Connection`` reading the replica at ``url``, read-only.

    :param timestamp: read the state at this time (time travel) instead of following
        the newest; ``SELECT litestream_set_time(...)`` changes it later.
    :param cache_size: bytes of decoded pages kept in memory (Go's default, 10 MB).
    :param poll_interval: seconds between looks for new files; 0 never looks again.
    :param options: backend options, as in a config's ``replica:`` block, ``age``
        (``{"identities": [...]}``) included for an encrypted replica.
    :param client: a ReplicaClient to use instead of building one from ``url``; it is
        closed with the connection.

    The SQL functions ``litestream_txid()``, ``litestream_time()``,
    ``litestream_lag()`` and ``litestream_set_time(when)`` are installed, and the
    PRAGMAs of the same names answer too. Closing the connection stops polling and
    closes the client.
    """
    import apsw

    from litestream_core.vfs import functions, sqlite_vfs

    if client is None:
        from litestream_core.encryption import client_from_options

        client = client_from_options(url, options)
    db = ReplicaDatabase(
        client, timestamp=timestamp, cache_size=cache_size, poll_interval=poll_interval
    )
    db.open()
    name = sqlite_vfs.register(db)
    try:
        conn = apsw.Connection(name, flags=apsw.SQLITE_OPEN_READONLY, vfs=sqlite_vfs.VFS_NAME)
    except BaseException:
        sqlite_vfs.unregister(name)
        db.close()
        raise
    functions.install(conn, name)
    return conn
