"""``restore -f``: the follow-mode half of the restore command (engine.follow does the work).

SIGINT and SIGTERM stop the loop between files, so the database and its ``-txid``
sidecar always agree when the command exits.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient
    from litestream_core.engine.follow import Follower


def check_follow_flags(
    txid: int | None, timestamp: datetime | None, dry_run: bool, interval: str
) -> float:
    """Go's restrictions on ``-f``; returns the interval in seconds."""
    from litestream_core.config import parse_duration
    from litestream_core.errors import ConfigError

    if txid is not None:
        raise ConfigError("cannot use follow mode with -txid")
    if timestamp is not None:
        raise ConfigError("cannot use follow mode with -timestamp")
    if dry_run:
        raise ConfigError("cannot use -dry-run with -f")
    seconds = parse_duration(interval, where="-follow-interval")
    if seconds <= 0:
        raise ConfigError(f"-follow-interval must be positive, got {interval!r}")
    return seconds


def run_follow(
    client: ReplicaClient,
    out_path: Path,
    interval: float,
    integrity_check: str,
    force: bool,
    if_replica_exists: bool,
) -> int:
    """Follow until a signal; the exit status."""
    from litestream_core.engine.follow import Follower

    # The lines are the restore command's (logs.configure): logfmt, as everywhere.
    follower = Follower(
        client, out_path, interval=interval, integrity_check=integrity_check, overwrite=force
    )
    return asyncio.run(_follow(follower, if_replica_exists))


async def _follow(follower: Follower, if_replica_exists: bool) -> int:
    from litestream_core.engine.plan import NoBackupsError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await follower.client.init()
    try:
        await follower.run(stop)
    except NoBackupsError:
        if if_replica_exists:
            click.echo("no matching backups found", err=True)
            return 0
        raise
    finally:
        await follower.client.close()
    return 0
