"""``litestream list``: the databases a running daemon manages, with their state."""

from __future__ import annotations

import json

import click

from litestream_core.cli.common import handle_errors
from litestream_core.cli.control_common import check_timeout, client, control_options, no_args


@click.command("list")
@control_options(10)
@click.argument("args", nargs=-1, metavar="")
@handle_errors
def command(socket_path: str, timeout: int, as_json: bool, args: tuple[str, ...]) -> None:
    """List all managed databases from a running daemon."""
    from litestream_core.ops.wire import parse_time, rfc3339

    no_args(args)
    result = client(socket_path, check_timeout(timeout), "list").get("/list")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    databases = result.get("databases") or []
    if not databases:
        click.echo("No databases configured")
    for db in databases:
        synced = db.get("last_sync_at")
        when = rfc3339(parse_time(synced)) if synced else "never"
        click.echo(f"{db.get('path')} [{db.get('status')}] (last sync: {when})")
