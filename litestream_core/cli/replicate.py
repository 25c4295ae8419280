"""``litestream replicate``: the long-running replicator, from a config file or one URL.

Go's behaviour, kept: ``-exec`` supervises the application (signals are forwarded to
it, replication stops when it exits); SIGINT/SIGTERM stop replication after a final
sync bounded by ``shutdown-sync-timeout``; a second signal skips the final sync.
Different on purpose: with ``-exec`` we exit with the application's own exit code
(Go turns every failure into 1), so a supervisor sees what the application reported.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from litestream_core.cli import plugin_manager
from litestream_core.cli.common import go_flag, handle_errors
from litestream_core.logs import LEVELS

if TYPE_CHECKING:
    import pluggy

    from litestream_core.config import Config
    from litestream_core.engine.store import Store
    from litestream_core.event_dispatch import EventDispatcher
    from litestream_core.metrics import MetricsServer

T = TypeVar("T")

IO_THREADS = 32
"""Worker threads of the replicator's event loop."""


@click.command("replicate")
@click.option(*go_flag("config"), "config_path", metavar="PATH", help="Config file path.")
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(
    *go_flag("exec"), "exec_cmd", metavar="CMD", help="Run CMD and replicate while it runs."
)
@click.option(*go_flag("once"), is_flag=True, help="Sync every database once, then exit.")
@click.option(*go_flag("force-snapshot"), is_flag=True,
              help="With -once: take a snapshot of every database.")  # fmt: skip
@click.option(*go_flag("enforce-retention"), is_flag=True,
              help="With -once: delete snapshots and files past their retention.")  # fmt: skip
@click.option(*go_flag("log-level"), type=click.Choice(sorted(LEVELS), case_sensitive=False),
              help="trace, debug, info, warn or error.")  # fmt: skip
@click.option(*go_flag("restore-if-db-not-exists"), is_flag=True,
              help="Restore missing databases from their replica before starting.")  # fmt: skip
@click.option(*go_flag("lease-fail"), is_flag=True,
              help="Beyond Go: exit with an error if another replicator holds a replica's "
                   "lease, instead of waiting for it.")  # fmt: skip
@click.argument("args", nargs=-1, metavar="[DB_PATH REPLICA_URL...]")
@handle_errors
def command(
    config_path: str | None,
    no_expand_env: bool,
    exec_cmd: str | None,
    once: bool,
    force_snapshot: bool,
    enforce_retention: bool,
    log_level: str | None,
    restore_if_db_not_exists: bool,
    lease_fail: bool,
    args: tuple[str, ...],
) -> None:
    """Replicate SQLite databases continuously."""
    from litestream_core.errors import ConfigError

    if force_snapshot and not once:
        raise ConfigError("cannot specify -force-snapshot flag without -once")
    if enforce_retention and not once:
        raise ConfigError("cannot specify -enforce-retention flag without -once")
    if once and exec_cmd:
        raise ConfigError("cannot specify -once flag with -exec")
    pm = plugin_manager(click.get_current_context())
    config = _load(config_path, args, not no_expand_env, pm)
    if once and config.exec:
        raise ConfigError("cannot specify -once flag with -exec")
    if config.addr:  # a malformed addr is one error line, before any log line
        from litestream_core.metrics import parse_addr

        parse_addr(config.addr)
    _setup_logging(config, log_level)
    for warning in config.warnings:
        logging.getLogger("litestream").warning(warning)
    if not config.dbs and not config.dirs:
        # As Go: logged, not fatal; databases can still be registered at run time.
        logging.getLogger("litestream").error(
            "no databases specified in configuration", extra={"config": config.source}
        )
    command_line = exec_cmd or config.exec
    argv = shlex.split(command_line) if command_line else None
    if command_line and not argv:
        raise ConfigError("-exec command is empty")
    one_shot = _OneShot(force_snapshot, enforce_retention) if once else None
    from litestream_core.engine.memory import raise_open_files_limit, tune_malloc

    tune_malloc()  # before the worker threads exist
    raise_open_files_limit()
    executor = _NoWaitExecutor()
    code = asyncio.run(
        _run(
            config, pm, argv, one_shot, restore_if_db_not_exists, executor, config_path, lease_fail
        )
    )
    _exit_now_if_requests_hang(executor, code)
    sys.exit(code)


@dataclass(frozen=True)
class _OneShot:
    """``-once``: sync and upload every database, then compact (and more if asked)."""

    force_snapshot: bool
    enforce_retention: bool


def _load(
    config_path: str | None, args: tuple[str, ...], expand: bool, pm: pluggy.PluginManager
) -> Config:
    from dataclasses import replace

    from litestream_core.config import Config, DBConfig, ReplicaConfig, load_config
    from litestream_core.errors import ConfigError

    if not args:
        return load_config(config_path, expand=expand, pm=pm)
    if config_path:
        raise ConfigError("cannot specify a replica URL and the -config flag")
    if len(args) == 1:
        raise ConfigError(f"must specify at least one replica URL for {args[0]}")
    db_path, *urls = args
    replicas: list[ReplicaConfig] = []
    for url in urls:  # beyond Go 0.5: several URLs are several replicas
        replica = (
            ReplicaConfig(url=url, location="command line")
            if "://" in url
            else ReplicaConfig(path=url, location="command line")
        )
        replica.replica_url()  # validate now: one clear line before anything starts
        same = sum(r.scheme == replica.scheme for r in replicas)
        if same:  # names are unique: file, file-2, ...
            replica = replace(replica, name=f"{replica.scheme}-{same + 1}")
        replicas.append(replica)
    path = Path(os.path.expanduser(db_path)).absolute()
    return Config(dbs=(DBConfig(path=path, replicas=tuple(replicas), location="command line"),),
                  source="command line")  # fmt: skip


def _setup_logging(config: Config, flag: str | None) -> None:
    """``logging:`` as Go reads it; ``-log-level``, then ``LOG_LEVEL``, beat the config."""
    from litestream_core._version import __version__
    from litestream_core.logs import configure, resolve_level

    settings = config.logging
    configure(
        level=resolve_level(flag, settings.level),
        kind=settings.type,
        stderr=settings.stderr,
        source=settings.source,
        secrets=config.secrets(),
    )
    logging.getLogger("litestream").info("litestream starting", extra={"version": __version__})


async def _run(
    config: Config,
    pm: pluggy.PluginManager,
    argv: list[str] | None,
    once: _OneShot | None,
    restore_missing_dbs: bool,
    executor: ThreadPoolExecutor,
    config_path: str | None = None,
    lease_fail: bool = False,
) -> int:
    from litestream_core.engine.eventlog import logged
    from litestream_core.engine.store import build_store, restore_missing
    from litestream_core.event_dispatch import EventDispatcher

    asyncio.get_running_loop().set_default_executor(executor)
    dispatcher = EventDispatcher(pm)
    emit = logged(dispatcher.emit_nowait)
    # -once cannot wait for another replicator's lease: it says so instead.
    store = build_store(config, pm=pm, emit=emit, lease_fail=lease_fail or once is not None)
    log = logging.getLogger("litestream")
    if not config.retention_enabled:
        log.warning(
            "retention disabled; cloud provider lifecycle policies must handle retention "
            "(idle databases take no new snapshots and may lose backup coverage if cloud "
            "retention expires them)"
        )
    metrics_server = _start_metrics(config, store, dispatcher)
    stopping = _Signals()  # before any slow step: a SIGTERM during start-up stops cleanly
    try:
        await restore_missing(store, config, force_all=restore_missing_dbs,
                              emit=emit)  # fmt: skip
        if once is not None:
            await store.open(run=False)
            try:
                await store.run_once(
                    force_snapshot=once.force_snapshot, enforce_retention=once.enforce_retention
                )
            finally:
                await store.close(final_sync=False)
            log.info("one-shot replication complete")
            return 0
        stopping.on_hard = store.abort_final_sync
        if not await _unless_signalled(store.open(), stopping):
            log.info("stopped during start-up")
            return 0
        from litestream_core.ops.services import start_services

        try:
            services = await start_services(config, store, config_path=config_path)
        except BaseException:
            await store.close(final_sync=False)
            raise
        try:
            code = await _supervise(argv, stopping) if argv else await stopping.wait()
        except BaseException:
            await services.close()
            await store.close(final_sync=False)
            raise
        await services.close()
        log.info("stopping: uploading the last changes")
        ok = await store.close(final_sync=not stopping.hard)
        if not ok:
            click.echo("Error: final sync did not complete; pending changes remain local",
                       err=True)  # fmt: skip
            return code or 1
        return code
    finally:
        await asyncio.to_thread(dispatcher.close, 2.0)
        if metrics_server is not None:
            metrics_server.close()


def _start_metrics(
    config: Config, store: Store, dispatcher: EventDispatcher
) -> MetricsServer | None:
    """Serve Prometheus metrics when ``addr`` is set (prometheus_client is imported only then)."""
    if not config.addr:
        return None
    from litestream_core.metrics import start_metrics

    collector, server = start_metrics(store, config.addr)
    dispatcher.add_listener(collector)
    return server


class _Signals:
    """SIGINT/SIGTERM: the first asks for a graceful stop, a second skips the final sync."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.count = 0
        self.forward: asyncio.subprocess.Process | None = None
        self.on_hard: Callable[[], None] | None = None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    @property
    def hard(self) -> bool:
        return self.count > 1

    def _on_signal(self, sig: int) -> None:
        self.count += 1
        if self.forward is not None and self.forward.returncode is None:
            self.forward.send_signal(sig)
        else:
            self.event.set()
        if self.hard and self.on_hard is not None:
            self.on_hard()

    async def wait(self) -> int:
        await self.event.wait()
        return 0


async def _unless_signalled(start: Awaitable[None], signals: _Signals) -> bool:
    """Run ``start`` unless a signal comes first; False if it was cancelled for one.

    Start-up talks to storage, and a storage request can hang for minutes (an SDK's
    read timeout times its retries): a SIGTERM must not wait for it.
    """
    task = asyncio.ensure_future(start)
    stop = asyncio.ensure_future(signals.event.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    task.result()
    return True


class _NoWaitExecutor(ThreadPoolExecutor):
    """The loop's default executor, which does not wait for its threads at shutdown.

    Blocking SDK calls run in these threads and cannot be cancelled; ``asyncio.run``
    would otherwise wait, after the final sync gave up, until a hung storage request
    timed out on its own. Local database work never runs unawaited here (``DB``
    waits for its thread even when cancelled), so only storage requests, which are
    atomic on the storage side, can be left behind.
    """

    def __init__(self) -> None:
        # Most work handed to these threads waits on the disk (fsync) or on storage,
        # not on the CPU: with the default of cores + 4, a thousand databases starting
        # at once queued behind a handful of fsyncs.
        super().__init__(max_workers=IO_THREADS)
        self._running = 0
        self._running_lock = threading.Lock()

    @property
    def running(self) -> int:
        """Calls started and not finished: idle worker threads are not counted."""
        with self._running_lock:
            return self._running

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        def call() -> T:
            with self._running_lock:
                self._running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._running_lock:
                    self._running -= 1

        return super().submit(call)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait=False, cancel_futures=True)


def _exit_now_if_requests_hang(executor: _NoWaitExecutor, code: int) -> None:
    """Exit at once when worker threads still hang in storage requests: the
    interpreter would join them at exit (every database is closed by now)."""
    if not (stuck := executor.running):
        return
    logging.getLogger("litestream").warning(
        "exiting without waiting for storage requests still running",
        extra={"requests": stuck},
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _supervise(argv: list[str], signals: _Signals) -> int:
    """Run the application; its exit ends replication, its code becomes ours."""
    from litestream_core.errors import ConfigError

    try:
        child = await asyncio.create_subprocess_exec(*argv)
    except OSError as exc:
        raise ConfigError(f"cannot run -exec command {argv[0]!r}: {exc.strerror or exc}") from None
    signals.forward = child
    code = await child.wait()
    return 128 - code if code < 0 else code
