"""``litestream start``: resume replication of a stopped database in a running daemon."""

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


@click.command("start")
@control_options(30)
@click.argument("args", nargs=-1, metavar="DB_PATH")
@handle_errors
def command(socket_path: str, timeout: int, as_json: bool, args: tuple[str, ...]) -> None:
    """Start replication for a database."""
    path = one_path(args, "litestream start /path/to/db")
    seconds = check_timeout(timeout, zero_ok=True)
    request = {"path": path, "timeout": timeout} if timeout else {"path": path}
    result = client(socket_path, seconds, "start").post("/start", request)
    print_start_stop(result, "running", socket_path, as_json)
