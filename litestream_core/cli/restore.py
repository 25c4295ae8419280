"""``litestream restore``: rebuild a database from its replica (Go's flags and output)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from litestream_core.cli import plugin_manager
from litestream_core.cli.common import echo_table, go_flag, handle_errors
from litestream_core.engine.integrity import DEFAULT_INTEGRITY_CHECK, INTEGRITY_CHECKS
from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    import pluggy

    from litestream_core.client import ReplicaClient
    from litestream_core.engine.plan import RestorePlan

log = logging.getLogger("litestream.restore")


def _parse_txid(value: str | None) -> int | None:
    if value is None:
        return None
    from litestream_core.errors import ConfigError

    text = value.strip().lower()
    if not text or len(text) > 16 or any(c not in "0123456789abcdef" for c in text):
        raise ConfigError(f"invalid -txid {value!r}: expected up to 16 hex digits")
    return int(text, 16)


def _parse_timestamp(value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    from litestream_core.errors import ConfigError

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or "T" not in value.upper() or parsed.tzinfo is None:
        raise ConfigError(
            "invalid -timestamp, must specify in RFC 3339 format (e.g. 2000-01-01T00:00:00Z)"
        )
    return parsed.astimezone(UTC)


@click.command("restore")
@click.option(*go_flag("config"), "config_path", metavar="PATH", help="Config file path.")
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option("-o", "--o", "output", metavar="PATH", help="Output path of the database.")
@click.option(*go_flag("txid"), metavar="HEX", help="Restore up to this TXID (16 hex digits).")
@click.option(*go_flag("timestamp"), metavar="RFC3339", help="Restore the state at this time.")
@click.option(*go_flag("if-db-not-exists"), is_flag=True, help="Exit 0 if the database exists.")
@click.option(*go_flag("if-replica-exists"), is_flag=True, help="Exit 0 if there is no backup.")
@click.option(*go_flag("dry-run"), is_flag=True, help="Print the plan; change nothing.")
@click.option(
    *go_flag("integrity-check"),
    type=click.Choice(INTEGRITY_CHECKS),
    default=DEFAULT_INTEGRITY_CHECK,
    show_default=True,
    help="Check the result with SQLite before putting it in place.",
)
@click.option(*go_flag("json"), "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(*go_flag("force"), is_flag=True, help="Replace an existing database.")
@click.option(*go_flag("parallelism"), type=click.IntRange(min=1), default=8, show_default=True,
              help="Files downloaded at once.")  # fmt: skip
@click.option("-f", "--f", "--follow", "follow", is_flag=True,
              help="Follow mode: keep applying new changes until interrupted.")  # fmt: skip
@click.option(*go_flag("follow-interval"), metavar="DURATION", default="1s", show_default=True,
              help="Polling interval of follow mode.")  # fmt: skip
@click.option(*go_flag("replica"), "replica_name", metavar="NAME",
              help="Restore from this replica of the database (default: the one with the "
              "newest data).")  # fmt: skip
@click.argument("source", metavar="DB_PATH|REPLICA_URL")
@handle_errors
def command(
    config_path: str | None,
    no_expand_env: bool,
    output: str | None,
    txid: str | None,
    timestamp: str | None,
    if_db_not_exists: bool,
    if_replica_exists: bool,
    dry_run: bool,
    integrity_check: str,
    as_json: bool,
    force: bool,
    parallelism: int,
    follow: bool,
    follow_interval: str,
    replica_name: str | None,
    source: str,
) -> None:
    """Restore a database from a replica: by path in the config, or from a replica URL."""
    from litestream_core.errors import ConfigError
    from litestream_core.logs import configure, resolve_level

    # As Go: log lines on stdout, on stderr when stdout carries -json output.
    configure(level=resolve_level(None), stderr=as_json)

    target_txid = _parse_txid(txid)
    target_time = _parse_timestamp(timestamp)
    if target_txid is not None and target_time is not None:
        raise ConfigError("cannot specify both -txid and -timestamp")
    if follow:
        from litestream_core.cli.restore_follow import check_follow_flags

        interval = check_follow_flags(target_txid, target_time, dry_run, follow_interval)
    pm = plugin_manager(click.get_current_context())
    makers, out_path, meta_path = _resolve(
        source, config_path, output, not no_expand_env, pm, replica_name
    )
    if out_path.is_dir():
        raise ConfigError(f"output path is a directory: {output or out_path}")
    if not dry_run:
        from litestream_core.engine.meta import default_meta_path
        from litestream_core.engine.replication_lock import refuse_if_replicated

        meta = meta_path or default_meta_path(out_path)
        refuse_if_replicated(out_path, meta, "restoring over it")
    if if_db_not_exists and not dry_run and out_path.exists() and out_path.stat().st_size > 0:
        log.info("database already exists; not restoring", extra={"db": str(out_path)})
        return
    label, client = _pick(makers, target_txid, target_time)
    if follow:
        from litestream_core.cli.restore_follow import run_follow

        sys.exit(run_follow(client, out_path, interval, integrity_check, force, if_replica_exists))
    sys.exit(
        asyncio.run(
            _run(
                client, pm, source, out_path, target_txid, target_time, if_replica_exists, dry_run,
                integrity_check, as_json, force, parallelism, label,
            )
        )
    )  # fmt: skip


def _pick(
    makers: dict[str, Callable[[], ReplicaClient]], txid: int | None, timestamp: datetime | None
) -> tuple[str, ReplicaClient]:
    """The replica to restore from (its label in the output, and a new client of it):
    the only one, else the one reaching the newest TXID (``engine.choose``)."""
    if len(makers) == 1:
        client = next(iter(makers.values()))()
        return client.type, client

    async def choose() -> str:
        from litestream_core.engine.choose import choose_replica
        from litestream_core.engine.plan import NoBackupsError

        clients = {name: make() for name, make in makers.items()}
        try:
            try:
                name, _ = await choose_replica(clients, txid=txid, timestamp=timestamp)
            except NoBackupsError:
                name = next(iter(clients))  # the restore says so, or finds a v0.3 backup
        finally:
            for client in clients.values():
                await client.close()
        return name

    # The restore runs on an event loop of its own: a client of its own, too.
    name = asyncio.run(choose())
    click.echo(f"restoring from replica {name}", err=True)
    return name, makers[name]()


def _resolve(
    source: str, config_path: str | None, output: str | None, expand: bool,
    pm: pluggy.PluginManager, replica_name: str | None = None,
) -> tuple[dict[str, Callable[[], ReplicaClient]], Path, Path | None]:  # fmt: skip
    """How to make a client of each candidate replica, by name (one with ``-replica`` or
    a URL), the output path and, when the config names it, the output database's meta
    path (where a live replicator of it holds its lock)."""
    from litestream_core.errors import ConfigError
    from litestream_core.plugins import make_replica_client

    if "://" in source:
        if config_path:
            raise ConfigError("cannot specify a replica URL and the -config flag")
        if replica_name:
            raise ConfigError("-replica names a replica of a database in the config, not a URL")
        if not output:
            raise ConfigError("output path required when restoring from a URL (use -o PATH)")
        client = make_replica_client(source, pm=pm)
        return {client.type: lambda: client}, Path(output).absolute(), None
    from litestream_core.config import load_config  # YAML: only when a config is read

    config = load_config(config_path, expand=expand, pm=pm)
    dbc = config.find_db(source)
    if dbc is None:
        raise ConfigError(f"database not found in config {config.source}: {source}")
    if dbc.replica is None:
        raise ConfigError(f"database has no replica in config {config.source}: {source}")
    makers: dict[str, Callable[[], ReplicaClient]] = {
        rc.display_name: functools.partial(rc.make_client, pm)
        for rc in dbc.replicas_named(replica_name)
    }
    out_path = Path(output).absolute() if output else dbc.path
    meta = Path(dbc.meta_path) if dbc.meta_path and out_path == dbc.path else None
    return makers, out_path, meta


async def _run(
    client: ReplicaClient,
    pm: pluggy.PluginManager,
    source: str,
    out_path: Path,
    txid: int | None,
    timestamp: datetime | None,
    if_replica_exists: bool,
    dry_run: bool,
    integrity_check: str,
    as_json: bool,
    force: bool,
    parallelism: int,
    label: str,
) -> int:
    from litestream_core.engine.plan import NoBackupsError, build_plan
    from litestream_core.engine.restore import restore
    from litestream_core.logs import format_seconds, format_txid
    from litestream_core.plugins import page_codecs

    await client.init()
    try:
        if txid is None:  # as Go 0.5: a newer (or closer) v0.3 backup is used instead
            from litestream_core.cli.restore_legacy import restore_if_newer

            done = await restore_if_newer(
                client, timestamp, out_path, source, dry_run, as_json, force, integrity_check
            )
            if done:
                return 0
        try:
            plan = await build_plan(client, txid=txid, timestamp=timestamp)
        except NoBackupsError:
            if if_replica_exists:
                log.info("no backups found on the replica; nothing restored",
                         extra={"replica": client.type})  # fmt: skip
                return 0
            raise
        if dry_run:
            _print_plan(plan, source, out_path, label, as_json)
            return 0
        progress = None if as_json or not sys.stderr.isatty() else _ProgressBar()
        emit = _dispatcher(pm, progress)
        try:
            result = await restore(
                client, out_path, plan=plan, overwrite=force, integrity_check=integrity_check,
                parallelism=parallelism, emit=emit.emit_nowait if emit else None,
                codecs=page_codecs(pm),
            )  # fmt: skip
        finally:
            if emit is not None:
                emit.close(timeout=2.0)
            if progress is not None:
                progress.stop()
    finally:
        await client.close()
    if as_json:
        _print_json({
            "db_path": str(result.path), "replica": label, "txid": f"{result.txid:016x}",
            "duration_ms": int(result.duration * 1000), "integrity_check": integrity_check,
        })  # fmt: skip
    else:
        log.info("restored database", extra={
            "db": str(result.path), "replica": client.type, "txid": format_txid(result.txid),
            "duration": format_seconds(result.duration),
        })  # fmt: skip
    return 0


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def _print_plan(
    plan: RestorePlan, source: str, out_path: Path, replica: str, as_json: bool
) -> None:
    files = [
        {
            "level": f.level, "name": f.name, "min_txid": f"{f.min_txid:016x}",
            "max_txid": f"{f.max_txid:016x}", "size": f.size,
            "timestamp": f.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for f in plan.files
    ]  # fmt: skip
    body = {
        "source": source, "target_path": str(out_path), "replica": replica,
        "min_txid": files[0]["min_txid"], "max_txid": f"{plan.txid:016x}", "files": files,
    }  # fmt: skip
    if as_json:
        _print_json(body)
        return
    click.echo("Restore plan:")
    for key in ("source", "target_path", "replica"):
        click.echo(f"  {key.replace('_path', '')}: {body[key]}")
    click.echo(f"  txid range: {body['min_txid']} - {body['max_txid']}\n")
    click.echo("Files to fetch:")
    keys = ("level", "name", "min_txid", "max_txid", "size", "timestamp")
    header = ["level", "file", "min_txid", "max_txid", "size", "timestamp"]
    echo_table(header, [[str(f[k]) for k in keys] for f in files], indent="  ")


class _ProgressBar:
    """A progress bar on stderr (click's), fed by RestoreProgress events.

    The total is known from the first event on; the bar is drawn from then.
    """

    def __init__(self) -> None:
        self._bar: Any = None

    @hookimpl
    def litestream_event(self, event: object) -> None:
        from litestream_core.events import RestoreProgress

        if not isinstance(event, RestoreProgress):
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=max(event.total_bytes, 1), label="restoring", file=sys.stderr,
                item_show_func=_megabytes, show_pos=False,
            )  # fmt: skip
        self._bar.update(event.done_bytes - self._bar.pos, event.done_bytes)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.render_finish()


def _megabytes(done: int | None) -> str:
    return "" if done is None else f"{done / 1e6:.1f} MB"


def _dispatcher(pm: pluggy.PluginManager, progress: _ProgressBar | None) -> Any:
    """The plugins' event dispatcher, with the progress bar as one more listener."""
    from litestream_core.event_dispatch import EventDispatcher

    dispatcher = EventDispatcher(pm, listeners=[progress] if progress is not None else [])
    return dispatcher if dispatcher.has_listeners() else None
