"""``litestream databases``: the configured databases and their replica types.

As in Go, it reads only the config: a script that lists databases must not hang on an
unreachable bucket. ``-positions`` (ours) also asks each replica how far it got (the
newest TXID of every level), as extra columns and JSON keys after Go's: one row per
replica, so a database with several has a row for each (``name:type``).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import click

from litestream_core.cli.common import go_flag, handle_errors
from litestream_core.cli.ltx import format_table

if TYPE_CHECKING:
    import pluggy

    from litestream_core.config import DBConfig, ReplicaConfig


POSITION_TIMEOUT = 15.0
"""Seconds to wait for one replica's listing: one unreachable bucket must not hang the list."""


async def _position(
    dbc: DBConfig, rc: ReplicaConfig | None, pm: pluggy.PluginManager
) -> dict[str, Any]:
    """Replica type and per-level newest TXID; a replica that cannot be read says why."""
    from litestream_core.engine.chain import list_level, newest
    from litestream_core.errors import LitestreamError

    row: dict[str, Any] = {"path": str(dbc.path), "replica": "", "levels": {}, "error": None}
    if rc is None:
        row["error"] = "no replica configured"
        return row
    try:
        client = rc.make_client(pm)
        several = len(dbc.replicas) > 1
        row["replica"] = f"{rc.display_name}:{client.type}" if several else client.type

        async def read() -> None:
            async with client:
                for level in range(10):
                    top = newest(await list_level(client, level))
                    if top is not None:
                        row["levels"][str(level)] = f"{top.max_txid:016x}"

        await asyncio.wait_for(read(), POSITION_TIMEOUT)
    except TimeoutError:
        row["error"] = f"replica did not answer within {POSITION_TIMEOUT:.0f}s"
    except (LitestreamError, OSError) as exc:
        row["error"] = exc.one_line() if isinstance(exc, LitestreamError) else str(exc)
    return row


def _replica_type(dbc: DBConfig) -> str:
    """The replica's type as Go names it, from the config alone (no client is built);
    for a database with several replicas, each one's as ``name:type``, comma-separated."""
    types = []
    for rc in dbc.replicas:
        scheme = rc.replica_url()[0].scheme
        kind = _GO_TYPES.get(scheme, scheme)
        types.append(kind if len(dbc.replicas) == 1 else f"{rc.display_name}:{kind}")
    return ",".join(types)


_GO_TYPES = {"webdavs": "webdav"}
"""URL schemes whose replica type Go prints under another name."""


async def _positions(dbs: tuple[DBConfig, ...], pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """One row per replica: a database with several has each one's position."""
    wanted = [(dbc, rc) for dbc in dbs for rc in (dbc.replicas or (None,))]
    return list(await asyncio.gather(*(_position(dbc, rc, pm) for dbc, rc in wanted)))


@click.command("databases")
@click.option(*go_flag("config"), "config_path", metavar="PATH", help="Config file path.")
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(*go_flag("json"), "as_json", is_flag=True, help="Output raw JSON.")
@click.option(
    *go_flag("positions"), is_flag=True, help="Also list each replica's newest TXID per level."
)
@handle_errors
def command(config_path: str | None, no_expand_env: bool, as_json: bool, positions: bool) -> None:
    """List the databases in the config and their replica types."""
    from litestream_core.cli import plugin_manager
    from litestream_core.config import load_config

    pm = plugin_manager(click.get_current_context())
    config = load_config(config_path, expand=not no_expand_env, pm=pm)
    dbs = config.dbs
    if config.dirs:  # each database a dir: entry finds now (Go lists the directory itself)
        from litestream_core.engine.dirs import find_databases

        dbs += tuple(d.database(path) for d in config.dirs for path in find_databases(d))
    if not positions:
        plain = [{"path": str(dbc.path), "replica": _replica_type(dbc)} for dbc in dbs]
        if as_json:
            click.echo(json.dumps(plain, indent=2))
        else:
            pairs = [("path", "replica"), *((r["path"], r["replica"]) for r in plain)]
            click.echo(format_table(pairs))
        return
    rows = asyncio.run(_positions(dbs, pm))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [("path", "replica", "txid", "levels")]
    for row in rows:
        levels = row["levels"]
        txid = max(levels.values(), default="-")
        detail = row["error"] or " ".join(f"L{lvl}={t}" for lvl, t in levels.items()) or "empty"
        table.append((row["path"], row["replica"] or "-", txid, detail))
    click.echo(format_table(table))
