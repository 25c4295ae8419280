"""``litestream reset``: forget a database's local LTX state so the next sync starts afresh.

This is the way out when local LTX files are damaged or missing: with the meta
directory's ``ltx`` tree gone, the next ``replicate`` writes a full snapshot. The
database file and its WAL are never touched.

As in Go, the config is read only when ``-config`` is given (otherwise the default meta
path beside the database is assumed). Unlike Go, we look before deleting: if the
``ltx`` tree holds anything that is not Litestream's (a level directory with LTX or
temporary files), nothing is removed, so a mistaken ``meta-path`` cannot cost data.

A live replicator of the database holds a lock in the meta directory; reset refuses
while it is held.

``-takeover`` also makes the database's replica name this database as its owner (the
replica identity, see ``engine/identity.py``): the way forward when a replicator
refuses a replica that belongs to another database and this one should own it from now
on. No replica file is deleted; the next sync writes a whole-database file at the
replica's next TXID, so every older point stays restorable (as the other database's
states, where it was another database).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from litestream_core.cli import plugin_manager
from litestream_core.cli.common import go_flag, handle_errors
from litestream_core.errors import ConfigError, DatabaseError

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient


@click.command("reset")
@click.option(*go_flag("config"), "config_path", metavar="PATH",
              help="Config file to find the database's meta-path in.")  # fmt: skip
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(*go_flag("dry-run"), is_flag=True, help="List what would be removed; remove nothing.")
@click.option(
    *go_flag("takeover"),
    is_flag=True,
    help="Also make the replica belong to this database (no replica file is deleted).",
)
@click.option(
    *go_flag("replica"),
    metavar="NAME|URL",
    help="The replica to take over: a replica URL, or the name of one of the database's "
    "replicas in -config (default: all of them).",
)
@click.argument("args", nargs=-1, metavar="DB_PATH")
@handle_errors
def command(
    config_path: str | None,
    no_expand_env: bool,
    dry_run: bool,
    takeover: bool,
    replica: str | None,
    args: tuple[str, ...],
) -> None:  # fmt: skip
    """Remove a database's local LTX files; the next sync takes a fresh snapshot.

    The database itself is not modified. Stop replication of this database first.
    """
    if not args:
        raise click.UsageError("database path required (usage: litestream reset /path/to/db)")
    if len(args) > 1:
        raise click.UsageError("too many arguments")
    if replica and not takeover:
        raise click.UsageError("-replica is only used with -takeover")
    db_path = Path(os.path.expanduser(args[0])).absolute()
    meta_path = _meta_path(db_path, config_path, expand=not no_expand_env)
    clients = _replica_clients(db_path, config_path, replica, not no_expand_env) if takeover else {}
    try:
        os.stat(db_path)
    except FileNotFoundError:
        raise DatabaseError(f"database does not exist: {db_path}") from None
    except OSError as exc:
        raise DatabaseError(f"cannot access database: {exc.strerror or exc}: {db_path}") from None

    from litestream_core.engine.replication_lock import refuse_if_replicated

    if not dry_run and meta_path.exists():
        refuse_if_replicated(db_path, meta_path, "reset")
    if clients:
        asyncio.run(_take_over(clients, db_path, meta_path, dry_run))
    if not meta_path.exists():
        click.echo(f"No local state to reset for {db_path}")
        click.echo(f"Meta directory does not exist: {meta_path}")
        return
    ltx_dir = meta_path / "ltx"
    files = ltx_files(ltx_dir)
    if dry_run:
        click.echo(f"Dry run: local Litestream state would be reset for: {db_path}")
        click.echo(f"Would remove: {ltx_dir}")
        if not files:
            click.echo("No local LTX files would be removed.")
            return
        click.echo("Files that would be removed:")
        for path in files:
            click.echo(f"  {path}")
        click.echo("No files were removed.")
        return

    click.echo(f"Resetting local Litestream state for: {db_path}")
    click.echo(f"Removing: {ltx_dir}")
    if ltx_dir.exists():
        shutil.rmtree(ltx_dir)
    click.echo("Reset complete. Next replication sync will create a fresh snapshot.")


def _replica_clients(
    db_path: Path, config_path: str | None, replica: str | None, expand: bool
) -> dict[str, ReplicaClient]:
    """The replicas to take over by name: the one a URL gives, else the database's in the
    config (only the one named, or every one: they all belong to this database)."""
    from litestream_core.plugins import make_replica_client

    pm = plugin_manager(click.get_current_context())
    if replica and "://" in replica:
        client = make_replica_client(replica, pm=pm)
        return {client.type: client}
    if not config_path:
        raise click.UsageError("-takeover needs the replica: give -replica URL or -config PATH")
    from litestream_core.config import load_config

    config = load_config(config_path, expand=expand, pm=pm)
    entry = config.find_db(db_path)
    if entry is None or not entry.replicas:
        raise ConfigError(f"no replica for {db_path} in config {config.source}")
    return {rc.display_name: rc.make_client(pm) for rc in entry.replicas_named(replica)}


async def _take_over(
    clients: dict[str, ReplicaClient], db_path: Path, meta_path: Path, dry_run: bool
) -> None:
    from litestream_core.engine.identity import read_identity, take_over
    from litestream_core.errors import IdentityError

    for name, client in clients.items():
        label = f"replica {name}" if len(clients) > 1 else "replica"
        async with client:
            if dry_run:
                try:
                    current = await read_identity(client)
                except IdentityError as exc:
                    click.echo(f"Would take over the {label} ({exc.one_line()})")
                    continue
                owner = current.describe() if current else "no database"
                click.echo(f"Would take over the {label} (it names {owner}) for {db_path}")
                continue
            previous, _ = await take_over(client, db_path, meta_path)
            owner = previous.describe() if previous else "no database"
            click.echo(f"{label[0].upper()}{label[1:]} taken over for {db_path} (it named "
                       f"{owner}); no file was deleted.")  # fmt: skip


def _meta_path(db_path: Path, config_path: str | None, *, expand: bool) -> Path:
    """The meta directory Go would use: the config's ``meta-path``, else beside the db."""
    from litestream_core.config import load_config
    from litestream_core.engine.meta import default_meta_path

    if config_path:
        pm = plugin_manager(click.get_current_context())
        entry = load_config(config_path, expand=expand, pm=pm).find_db(db_path)
        if entry is not None and entry.meta_path:
            return Path(entry.meta_path)
    return default_meta_path(db_path)


def ltx_files(ltx_dir: Path) -> list[Path]:
    """Every file under ``ltx_dir`` in Go's (lexical) order, after checking it is ours.

    Raises DatabaseError, before anything is deleted, for any entry that is not a
    numbered level directory holding LTX or temporary files.
    """
    from litestream_core.engine.meta import TMP_SUFFIX
    from litestream_core.ltx import parse_filename

    if ltx_dir.is_symlink():
        raise _foreign(ltx_dir)
    if not ltx_dir.exists():
        return []
    found: list[Path] = []
    for level in sorted(ltx_dir.iterdir()):
        if not (level.name.isdigit() and level.is_dir() and not level.is_symlink()):
            raise _foreign(level)
        for path in sorted(level.iterdir()):
            if path.is_symlink() or not path.is_file():
                raise _foreign(path)
            if not path.name.endswith(TMP_SUFFIX):
                try:
                    parse_filename(path.name)
                except ValueError:
                    raise _foreign(path) from None
            found.append(path)
    return found


def _foreign(path: Path) -> DatabaseError:
    return DatabaseError(
        f"refusing to reset: {path} is not Litestream LTX state; nothing was removed",
        hint="check the database's meta-path",
    )
