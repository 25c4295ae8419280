"""``litestream register``: add a database to a running daemon, replicated to a URL.

As in Go, the replica is built from the URL alone (credentials come from the
environment) and the database is not added to the config file.
"""

from __future__ import annotations

import click

from litestream_core.cli.common import go_flag, handle_errors
from litestream_core.cli.control_common import (
    check_timeout,
    client,
    control_options,
    one_path,
    print_fields,
    usage_error,
)

HINT = "litestream register -replica s3://bucket/prefix /path/to/db"


@click.command("register")
@click.option(*go_flag("replica"), "replica_url", metavar="URL",
              help="Replica URL, e.g. s3://bucket/prefix (required).")  # fmt: skip
@control_options(30)
@click.argument("args", nargs=-1, metavar="DB_PATH")
@handle_errors
def command(
    replica_url: str | None, socket_path: str, timeout: int, as_json: bool, args: tuple[str, ...]
) -> None:
    """Register a database for replication."""
    path = one_path(args, HINT)
    if not replica_url:
        usage_error("-replica is required", HINT)
    seconds = check_timeout(timeout)
    result = client(socket_path, seconds, "register").post(
        "/register", {"path": path, "replica_url": replica_url}
    )
    status = result.get("status")
    fields = {"status": status, "db_path": result.get("path"), "replica": replica_url,
              "socket": socket_path}  # fmt: skip
    shown = {"status": "already registered"} if status == "already_registered" else None
    print_fields(fields, as_json, shown)
