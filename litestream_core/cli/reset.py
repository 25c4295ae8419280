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
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from litestream_core.cli import plugin_manager
from litestream_core.cli.common import go_flag, handle_errors
from litestream_core.errors import DatabaseError


@click.command("reset")
@click.option(*go_flag("config"), "config_path", metavar="PATH",
              help="Config file to find the database's meta-path in.")  # fmt: skip
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(*go_flag("dry-run"), is_flag=True, help="List what would be removed; remove nothing.")
@click.argument("args", nargs=-1, metavar="DB_PATH")
@handle_errors
def command(
    config_path: str | None, no_expand_env: bool, dry_run: bool, args: tuple[str, ...]
) -> None:
    """Remove a database's local LTX files; the next sync takes a fresh snapshot.

    The database itself is not modified. Stop replication of this database first.
    """
    if not args:
        raise click.UsageError("database path required (usage: litestream reset /path/to/db)")
    if len(args) > 1:
        raise click.UsageError("too many arguments")
    db_path = Path(os.path.expanduser(args[0])).absolute()
    meta_path = _meta_path(db_path, config_path, expand=not no_expand_env)
    try:
        os.stat(db_path)
    except FileNotFoundError:
        raise DatabaseError(f"database does not exist: {db_path}") from None
    except OSError as exc:
        raise DatabaseError(f"cannot access database: {exc.strerror or exc}: {db_path}") from None

    if not meta_path.exists():
        click.echo(f"No local state to reset for {db_path}")
        click.echo(f"Meta directory does not exist: {meta_path}")
        return
    from litestream_core.engine.replication_lock import refuse_if_replicated

    if not dry_run:
        refuse_if_replicated(db_path, meta_path, "reset")
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
