"""``litestream query``: one read-only SQL query against a replica, nothing downloaded.

The replica is opened through the VFS (``litestream_core.vfs``), so only the pages the
query touches are read. Rows print like the sqlite3 shell's list mode (``|`` between
values, NULL as nothing, blobs as ``X'hex'``); ``-json`` prints a JSON list of objects
keyed by column name, blobs as hex strings. Like ``verify``, it takes a replica URL or
a database path found in the config; the config form carries the replica's backend
keys and ``age:`` identities, so it is how an encrypted replica is queried.
"""

from __future__ import annotations

import json
from typing import Any

import click

from litestream_core.cli.common import go_flag, handle_errors


@click.command("query")
@click.option(*go_flag("config"), "config_path", metavar="PATH", help="Config file path.")
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(*go_flag("timestamp"), metavar="RFC3339", help="Query the state at this time.")
@click.option(*go_flag("json"), "as_json", is_flag=True, help="Print a JSON list of rows.")
@click.argument("source", metavar="REPLICA_URL|DB_PATH")
@click.argument("sql", metavar="SQL")
@handle_errors
def command(
    config_path: str | None,
    no_expand_env: bool,
    timestamp: str | None,
    as_json: bool,
    source: str,
    sql: str,
) -> None:
    """Run one read-only SQL query against a replica, reading only the pages it needs."""
    import apsw

    from litestream_core.cli.ltx import replica_for
    from litestream_core.cli.restore import _parse_timestamp
    from litestream_core.errors import RestoreError
    from litestream_core.vfs import open_replica

    when = _parse_timestamp(timestamp)
    client = replica_for(source, config_path, not no_expand_env)
    conn = open_replica(source, timestamp=when, poll_interval=0, client=client)
    try:
        cursor = conn.execute(sql)
        rows: list[tuple[Any, ...]] = []
        names: list[str] = []
        for row in cursor:
            if not names:
                names = [d[0] for d in cursor.get_description()]
            rows.append(row)
    except apsw.Error as exc:
        raise RestoreError(f"query failed: {exc}") from None
    finally:
        conn.close()
    if as_json:
        records = [dict(zip(names, map(_json_value, row), strict=True)) for row in rows]
        click.echo(json.dumps(records, indent=2))
        return
    for row in rows:
        click.echo("|".join(_text_value(v) for v in row))


def _json_value(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


def _text_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"X'{value.hex().upper()}'"
    return str(value)
