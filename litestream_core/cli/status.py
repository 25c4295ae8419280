"""``litestream status``: each configured database's local replication state, as Go shows it.

Only local state is read (the database file, its WAL and the meta directory's L0
files), so the command is instant and works while ``replicate`` runs or not. Like Go
it says nothing about the replica's position. The JSON field names and the status
words are Go's, so scripts written against the Go binary keep working.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from litestream_core.cli.common import go_flag, handle_errors, no_config_given

if TYPE_CHECKING:
    from litestream_core.config import DBConfig

OK = "ok"
NOT_INITIALIZED = "not initialized"
NO_DATABASE = "no database"
ERROR = "error"


@dataclass(frozen=True)
class DBStatus:
    """One row; the attribute names are Go's JSON keys."""

    database: str
    status: str
    local_txid: str = "-"
    wal_size: str = "-"
    replicas: tuple[str, ...] = ()
    """Beyond Go: the names of a database's replicas when it has several (they share
    its local files); not in the JSON of a database with one."""

    def as_dict(self) -> dict[str, object]:
        row = asdict(self)
        if len(self.replicas) > 1:
            row["replicas"] = list(self.replicas)
        else:
            del row["replicas"]
        return row


@click.command("status")
@click.option(*go_flag("config"), "config_path", metavar="PATH", help="Config file path.")
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(*go_flag("json"), "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.argument("db_path", required=False, metavar="[DB_PATH]")
@handle_errors
def command(
    config_path: str | None, no_expand_env: bool, as_json: bool, db_path: str | None
) -> None:
    """Show each database's local replication status (ok, not initialized, no database, error).

    With DB_PATH, only that database (no config needed: the default meta directory
    beside it is read). Reads local files only; the replica's position is not shown.
    """
    from litestream_core.cli import plugin_manager
    from litestream_core.config import DBConfig, load_config

    if db_path is not None and no_config_given(config_path):
        dbs = [DBConfig(path=Path(os.path.expanduser(db_path)).absolute())]
    else:
        pm = plugin_manager(click.get_current_context())
        config = load_config(config_path, expand=not no_expand_env, pm=pm)
        dbs = [db for db in config.dbs if db_path is None or _matches(db, db_path)]
    statuses = [db_status(db) for db in dbs]
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
        return
    several = any(len(s.replicas) > 1 for s in statuses)
    extra = ("replicas",) if several else ()
    rows: list[tuple[str, ...]] = [("database", "status", "local txid", "wal size", *extra)]
    for s in statuses:
        names = (", ".join(s.replicas) if len(s.replicas) > 1 else "-",) if several else ()
        rows.append((s.database, s.status, s.local_txid, s.wal_size, *names))
    for line in _table(rows):
        click.echo(line)


def _matches(db: DBConfig, wanted: str) -> bool:
    """Go compares the path as typed; a relative or ``~`` path is also accepted here."""
    return str(db.path) == wanted or db.path == Path(os.path.expanduser(wanted)).absolute()


def db_status(db: DBConfig) -> DBStatus:
    """The state of one database from its files, the way Go's ``status`` judges it."""
    names = tuple(r.display_name for r in db.replicas)
    return replace(_local_status(db), replicas=names)


def _local_status(db: DBConfig) -> DBStatus:
    from litestream_core.engine.meta import default_meta_path

    path = str(db.path)
    try:
        os.stat(path)
    except FileNotFoundError:
        return DBStatus(path, NO_DATABASE)
    except OSError:
        pass  # Go carries on; the meta directory decides
    try:
        wal_size = human_bytes(os.stat(f"{path}-wal").st_size)
    except FileNotFoundError:
        wal_size = human_bytes(0)
    except OSError:
        wal_size = "-"
    meta = Path(db.meta_path) if db.meta_path else default_meta_path(db.path)
    try:
        txid = max_l0_txid(meta / "ltx" / "0")
    except OSError:
        return DBStatus(path, ERROR, wal_size=wal_size)
    if txid == 0:
        return DBStatus(path, NOT_INITIALIZED, wal_size=wal_size)
    return DBStatus(path, OK, local_txid=f"{txid:016x}", wal_size=wal_size)


def max_l0_txid(level_dir: Path) -> int:
    """The highest max TXID among the level's LTX file names; 0 when there are none."""
    from litestream_core.ltx import parse_filename

    best = 0
    try:
        with os.scandir(level_dir) as entries:
            names = [entry.name for entry in entries]
    except FileNotFoundError:
        return 0
    for name in names:
        try:
            best = max(best, parse_filename(name)[1])
        except ValueError:
            continue
    return best


def human_bytes(size: int) -> str:
    """Go's ``humanize.Bytes``: SI units, one decimal below 10 (``1.5 kB``, ``21 kB``)."""
    if size < 10:
        return f"{size} B"
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    exp = min(math.floor(math.log(size) / math.log(1000)), len(units) - 1)
    value = math.floor(size / 1000**exp * 10 + 0.5) / 10
    return f"{value:.1f} {units[exp]}" if value < 10 else f"{value:.0f} {units[exp]}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Columns padded like Go's tabwriter (two spaces between them, last one unpadded)."""
    widths = [max(len(row[i]) for row in rows) + 2 for i in range(len(rows[0]) - 1)]
    return [
        "".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + row[-1] for row in rows
    ]
