"""``litestream info``: version, PID, uptime and database count of a running daemon."""

from __future__ import annotations

import json

import click

from litestream_core.cli.common import handle_errors
from litestream_core.cli.control_common import check_timeout, client, control_options, no_args


@click.command("info")
@control_options(10)
@click.argument("args", nargs=-1, metavar="")
@handle_errors
def command(socket_path: str, timeout: int, as_json: bool, args: tuple[str, ...]) -> None:
    """Show daemon information from a running Litestream instance."""
    from litestream_core.ops.wire import go_duration, parse_time, rfc3339

    no_args(args)
    info = client(socket_path, check_timeout(timeout), "info").get("/info")
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    started = parse_time(str(info.get("started_at", "")))
    click.echo(f"Litestream {info.get('version', '')}")
    click.echo(f"  PID:        {info.get('pid', 0)}")
    click.echo(f"  Uptime:     {go_duration(int(info.get('uptime_seconds', 0)))}")
    click.echo(f"  Started at: {rfc3339(started)}")
    click.echo(f"  Databases:  {info.get('database_count', 0)}")
