"""``litestream ltx``: a database's LTX files per level (Go's columns and JSON keys)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from litestream_core.cli.common import go_flag, handle_errors, no_config_given

if TYPE_CHECKING:
    from litestream_core.client import LTXFileInfo, ReplicaClient

_ALL = "all"


def replica_for(
    source: str, config_path: str | None, expand: bool, replica_name: str | None = None
) -> ReplicaClient:
    """The client of a replica URL, or of a database's replica found in the config (its
    first, or the one named ``replica_name``).

    Shared by the inspection commands (``ltx``, ``verify``), which take either form
    as Go's ``ltx`` does.
    """
    return next(iter(replicas_for(source, config_path, expand, replica_name, every=False).values()))


def replicas_for(
    source: str, config_path: str | None, expand: bool, replica_name: str | None = None,
    *, every: bool = True,
) -> dict[str, ReplicaClient]:  # fmt: skip
    """Clients by replica name: of a URL (named by its type), or of a database in the
    config: all its replicas (``every``), its first, or the one named ``replica_name``."""
    from litestream_core.cli import plugin_manager
    from litestream_core.config import load_config
    from litestream_core.errors import ConfigError
    from litestream_core.plugins import make_replica_client

    pm = plugin_manager(click.get_current_context())
    if "://" in source:
        if config_path:
            raise ConfigError("cannot specify a replica URL and the -config flag")
        if replica_name:
            raise ConfigError("-replica names a replica of a database in the config, not a URL")
        client = make_replica_client(source, pm=pm)
        return {client.type: client}
    config = load_config(config_path, expand=expand, pm=pm)
    dbc = config.find_db(source)
    if dbc is None:
        raise ConfigError(f"database not found in config {config.source}: {source}")
    if dbc.replica is None:
        raise ConfigError(f"database has no replica in config {config.source}: {source}")
    chosen = dbc.replicas_named(replica_name) if replica_name or every else dbc.replicas[:1]
    return {rc.display_name: rc.make_client(pm) for rc in chosen}


def rfc3339(moment: datetime) -> str:
    """Go's ``time.RFC3339`` rendering, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_level(value: str) -> int | None:
    if value.lower() == _ALL:
        return None
    if value.isdigit() and 0 <= int(value) <= 9:
        return int(value)
    raise click.BadParameter(f"invalid level {value!r}: expected 0-9 or all")


async def _list(client: ReplicaClient, level: int | None) -> list[LTXFileInfo]:
    from litestream_core.engine.chain import list_level

    levels = range(10) if level is None else [level]
    async with client:
        return [f for lvl in levels for f in await list_level(client, lvl)]


def _local_files(db_path: str, level: int | None) -> list[LTXFileInfo]:
    import os
    from pathlib import Path

    from litestream_core.engine.meta import MetaDir, default_meta_path

    meta_path = default_meta_path(Path(os.path.expanduser(db_path)).absolute())
    click.echo(f"no config file: local LTX files in {meta_path}", err=True)
    meta = MetaDir(meta_path)
    return [f for lvl in (range(10) if level is None else [level]) for f in meta.files(lvl)]


@click.command("ltx")
@click.option(*go_flag("config"), "config_path", metavar="PATH", help="Config file path.")
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(
    *go_flag("level"), default="0", show_default=True, metavar="LEVEL",
    help='Compaction level to list (0-9 or "all").',
)  # fmt: skip
@click.option(*go_flag("json"), "as_json", is_flag=True, help="Output raw JSON.")
@click.option(*go_flag("replica"), "replica_name", metavar="NAME",
              help="Only this replica of a database with several.")  # fmt: skip
@click.argument("source", metavar="DB_PATH|REPLICA_URL")
@handle_errors
def command(
    config_path: str | None, no_expand_env: bool, level: str, as_json: bool,
    replica_name: str | None, source: str,
) -> None:  # fmt: skip
    """List the LTX files of a database (from the config) or of a replica URL.

    Without a config, DB_PATH's local LTX files (in the default meta directory beside
    it) are listed. A database with several replicas lists each one's files, with the
    replica's name in a first column (``-replica NAME``: only that one's).
    """
    wanted = _parse_level(level)
    named: list[tuple[str, LTXFileInfo]] = []
    if "://" not in source and no_config_given(config_path):
        named = [("", f) for f in _local_files(source, wanted)]
    else:
        clients = replicas_for(source, config_path, not no_expand_env, replica_name)
        several = len(clients) > 1
        for name, client in clients.items():
            named += [(name if several else "", f) for f in asyncio.run(_list(client, wanted))]
    with_name = any(name for name, _ in named)
    rows = [
        {
            **({"replica": name} if with_name else {}),
            "level": f.level,
            "min_txid": f"{f.min_txid:016x}",
            "max_txid": f"{f.max_txid:016x}",
            "size": f.size,
            "timestamp": rfc3339(f.created_at),
        }
        for name, f in named
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [(*(("replica",) if with_name else ()), "level", "min_txid", "max_txid", "size",
              "created")]  # fmt: skip
    table += [
        (
            *((str(r["replica"]),) if with_name else ()),
            str(r["level"]),
            str(r["min_txid"]),
            str(r["max_txid"]),
            str(r["size"]),
            str(r["timestamp"]),
        )
        for r in rows
    ]
    click.echo(format_table(table))


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded as Go's tabwriter does (two spaces between columns)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
