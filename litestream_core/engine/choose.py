"""Which of a database's replicas a restore reads: the one that gets furthest.

Replicas upload on their own schedules, so after an outage one may be minutes behind
another. Without ``-replica NAME`` the restore plans against each and takes the plan
reaching the newest TXID (for ``-timestamp``, the newest TXID at or before that time,
the state closest to it); a tie goes to the replica listed first. A replica that cannot
be read is skipped with a warning: the point of several replicas is that one can fail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from litestream_core.client import ReplicaClient
from litestream_core.engine.plan import NoBackupsError, RestorePlan, build_plan
from litestream_core.errors import LitestreamError, describe

log = logging.getLogger("litestream.restore")


async def choose_replica(
    clients: Mapping[str, ReplicaClient],
    *,
    txid: int | None = None,
    timestamp: datetime | None = None,
) -> tuple[str, RestorePlan]:
    """The name of the replica to restore from (in ``clients``, in config order) and its
    plan; each client is initialised here. Raises the first replica's error when none
    can serve the target (NoBackupsError when none holds a backup)."""
    best: tuple[str, RestorePlan] | None = None
    errors: list[Exception] = []
    for name, client in clients.items():
        try:
            await client.init()  # idempotent; a replica that cannot connect is skipped
            plan = await build_plan(client, txid=txid, timestamp=timestamp)
        except (LitestreamError, OSError) as exc:
            if len(clients) > 1 and not isinstance(exc, NoBackupsError):
                log.warning("a replica cannot serve this restore; trying the others",
                            extra={"replica": name, "error": describe(exc)})  # fmt: skip
            errors.append(exc)
            continue
        if best is None or plan.txid > best[1].txid:
            best = (name, plan)
    if best is not None:
        return best
    found = [e for e in errors if not isinstance(e, NoBackupsError)]
    raise (found or errors)[0]
