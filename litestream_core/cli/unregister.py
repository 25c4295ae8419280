"""``litestream unregister``: remove a database from a running daemon.

The daemon syncs the database to its replica a last time, then forgets it; the
config file is not changed. ``-dry-run`` only says what would be asked.
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
)


@click.command("unregister")
@click.option(*go_flag("dry-run"), is_flag=True,
              help="Preview what would be unregistered without changing the daemon.")  # fmt: skip
@control_options(30)
@click.argument("args", nargs=-1, metavar="DB_PATH")
@handle_errors
def command(
    dry_run: bool, socket_path: str, timeout: int, as_json: bool, args: tuple[str, ...]
) -> None:
    """Unregister a database from replication."""
    path = one_path(args, "litestream unregister /path/to/db")
    seconds = check_timeout(timeout)
    if dry_run:
        click.echo("Dry run: unregister request preview")
        click.echo(f"  database: {path}")
        click.echo(f"  socket: {socket_path}")
        click.echo("  replicas: daemon-managed replica for this database")
        click.echo("  final sync: the daemon syncs the database to its replica before answering")
        click.echo(f"  timeout: {timeout}s")
        click.echo("No unregister request was sent.")
        return
    result = client(socket_path, seconds, "unregister").post(
        "/unregister", {"path": path, "timeout": timeout}
    )
    fields = {"status": result.get("status"), "db_path": result.get("path"),
              "final_txid": result.get("txid", 0), "socket": socket_path}  # fmt: skip
    print_fields(fields, as_json)
