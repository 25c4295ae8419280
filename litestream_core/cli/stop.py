"""``litestream stop``: stop replicating one database in a running daemon.

The daemon syncs the database to its replica a last time before answering.
"""

from __future__ import annotations

import click

from litestream_core.cli.common import handle_errors
from litestream_core.cli.control_common import (
    check_timeout,
    client,
    control_options,
    one_path,
    print_start_stop,
)


@click.command("stop")
@control_options(30, "Maximum time to wait in seconds for the final sync.")
@click.argument("args", nargs=-1, metavar="DB_PATH")
@handle_errors
def command(socket_path: str, timeout: int, as_json: bool, args: tuple[str, ...]) -> None:
    """Stop replication for a database (after a final sync)."""
    path = one_path(args, "litestream stop /path/to/db")
    seconds = check_timeout(timeout, zero_ok=True)
    request = {"path": path, "timeout": timeout} if timeout else {"path": path}
    result = client(socket_path, seconds, "stop").post("/stop", request)
    print_start_stop(result, "stopped", socket_path, as_json)
