"""Replication in a process of its own, driven from the application.

The engine reads the database through APSW's SQLite. In the application's process a
second SQLite library (the ``sqlite3`` module, an ORM's driver) would not see its
locks, because POSIX advisory locks belong to the process and each library tracks
only its own: the application could checkpoint straight through the engine's read
lock and lose frames it had not copied yet. In a separate process the locks work
as SQLite intends, whatever library the application uses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pluggy

import litestream_core
from litestream_core.api._base import Replication
from litestream_core.api._protocol import (
    EVENT,
    LOG,
    REPLY,
    START,
    STATUS,
    STOP,
    SYNC,
    ChildSpec,
    ReplicationStatus,
)
from litestream_core.client import ReplicaURL
from litestream_core.engine.dbtypes import DBSettings
from litestream_core.engine.levels import CompactionSettings
from litestream_core.engine.replica import ReplicaSettings
from litestream_core.errors import ConfigError, LitestreamError
from litestream_core.events import Event, LTXFileUploaded

log = logging.getLogger("litestream.api")

REPLY_GRACE = 5.0
"""Seconds the parent waits beyond a timeout the child enforces itself."""
EXIT_GRACE = 10.0
"""Seconds a stopping child gets beyond its shutdown sync timeout before it is killed."""


CHILD_MAIN = (
    "import sys; sys.path.append(sys.argv[2]); "
    "from litestream_core.api._child import main; sys.exit(main(sys.argv))"
)


class ChildProcess:
    """The parent's handle on one replication process: requests in, replies and events out.

    A reader thread resolves each request's future and hands events and log lines to
    ``deliver``/logging in the order the child sent them.
    """

    def __init__(self, spec: ChildSpec, deliver: Callable[[Event], None]) -> None:
        self._spec = spec
        self._deliver = deliver
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[Any]] = {}
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._gone: LitestreamError | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def spawn(self) -> concurrent.futures.Future[ReplicationStatus]:
        """Start the child; the future holds its status once it replicates, or its error."""
        ours, theirs = socket.socketpair()
        # The package's own location comes last on the child's path, so an installed
        # copy is found as usual and a source checkout on a hand-made path still is.
        root = str(Path(litestream_core.__file__).resolve().parent.parent)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", CHILD_MAIN, str(theirs.fileno()), root],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # it logs through the parent; stderr is shared
            )
        except OSError as exc:
            ours.close()
            raise LitestreamError(
                f"cannot start the replication process with {sys.executable!r}: {exc}"
            ) from None
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        future = self._send(START, self._spec, request=0)
        threading.Thread(target=self._read, name="litestream-replication", daemon=True).start()
        return future

    def request(self, op: str, argument: object = None) -> concurrent.futures.Future[Any]:
        if op == STOP:
            self._stopping = True
        return self._send(op, argument, request=next(self._ids))

    def _send(self, op: str, argument: object, *, request: int) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._gone is not None or self._conn is None:
                future.set_exception(self._gone or LitestreamError("replication is not running"))
                return future
            self._pending[request] = future
            # If the child is gone, the reader sees it and fails every pending request.
            with contextlib.suppress(OSError, ValueError):
                self._conn.send((op, request, argument))
        return future

    def _read(self) -> None:
        assert self._conn is not None and self._proc is not None
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == REPLY:
                _, request, ok, value = message
                if request == 0 and not ok:
                    self._stopping = True  # a failed start is raised, not logged
                with self._lock:
                    future = self._pending.pop(request, None)
                if future is not None:
                    with contextlib.suppress(concurrent.futures.InvalidStateError):
                        if ok:
                            future.set_result(value)
                        else:
                            future.set_exception(value)
            elif kind == EVENT:
                self._deliver(message[1])
            elif kind == LOG:
                _, name, level, text, fields = message
                logging.getLogger(name).log(level, "%s", text, extra=fields)
        self._conn.close()
        code = self.wait(self._spec.shutdown_sync_timeout + EXIT_GRACE)
        gone = LitestreamError(
            f"the replication process (pid {self._proc.pid}) exited with code {code}"
        )
        with self._lock:
            self._gone = gone
            pending, self._pending = self._pending, {}
        if not self._stopping:
            log.error("replication process is gone: the database is no longer replicated",
                      extra={"db": self._spec.db_path, "error": str(gone)})  # fmt: skip
        for future in pending.values():
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(gone)

    def wait(self, timeout: float) -> int:
        """Reap the child, killing it if it outlives ``timeout``; its exit code."""
        assert self._proc is not None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("replication process did not exit; killing it",
                      extra={"pid": self._proc.pid})  # fmt: skip
            self._proc.kill()
            return self._proc.wait()

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


class ProcessReplication(Replication):
    """The engine in a child process, so any SQLite library may write beside it."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        replica_url: str | ReplicaURL,
        *,
        options: Mapping[str, Any] | None = None,
        db_settings: DBSettings | None = None,
        replica_settings: ReplicaSettings | None = None,
        compaction: CompactionSettings | bool = True,
        shutdown_sync_timeout: float = 30.0,
        pm: pluggy.PluginManager | None = None,
        on_event: Callable[[Event], None] | None = None,
        compression: str = "lz4",
    ) -> None:
        """Events reach ``pm``'s listeners and ``on_event`` here, in the application;
        ``on_event`` runs on the event loop that called ``start``. ``compression`` names
        the page codec, which the replication process finds among its plugins."""
        from litestream_core.event_dispatch import EventDispatcher
        from litestream_core.plugins import get_plugin_manager

        url = replica_url if isinstance(replica_url, ReplicaURL) else ReplicaURL.parse(replica_url)
        if options and "age" in options:
            from litestream_core.encryption import load_age_keys

            load_age_keys(options["age"], "options.age")  # a bad key fails here, not in the child
        self._dispatcher = EventDispatcher(pm if pm is not None else get_plugin_manager())
        self._on_event = on_event
        self._spec = ChildSpec(
            db_path=os.path.abspath(db_path),
            replica_url=url,
            options=dict(options or {}),
            db_settings=db_settings,
            replica_settings=replica_settings,
            compaction=compaction,
            shutdown_sync_timeout=shutdown_sync_timeout,
            plugins=None if pm is None else _entry_point_plugins(pm, url.scheme),
            compression=compression,
            parent_pid=os.getpid(),
            log_level=logging.getLogger("litestream").getEffectiveLevel(),
        )
        try:
            pickle.dumps(self._spec)
        except Exception as exc:
            raise ConfigError(
                f"replication settings cannot be sent to the replication process: {exc}",
                hint="pass options as plain values, or in_process=True",
            ) from None
        self._child: ChildProcess | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._txid = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        child = ChildProcess(self._spec, self._deliver)
        try:
            status = await asyncio.wrap_future(child.spawn())
        except BaseException as exc:
            if child.pid is not None:
                if isinstance(exc, asyncio.CancelledError):
                    await asyncio.to_thread(child.kill)  # still starting: nobody will stop it
                else:
                    await asyncio.to_thread(child.wait, EXIT_GRACE)  # it is exiting already
            await asyncio.to_thread(self._dispatcher.close, 2.0)
            raise
        self._child = child
        self._txid = status.replica_txid

    async def stop(self) -> bool:
        child, self._child = self._child, None
        if child is None:
            return True
        timeout = self._spec.shutdown_sync_timeout + EXIT_GRACE
        try:
            ok: bool = await asyncio.wait_for(asyncio.wrap_future(child.request(STOP)), timeout)
        except TimeoutError:
            log.error("replication process did not stop in time; killing it",
                      extra={"pid": child.pid})  # fmt: skip
            await asyncio.to_thread(child.kill)
            ok = False
        except LitestreamError:  # it had stopped already (SIGTERM): its exit code says how
            ok = await asyncio.to_thread(child.wait, EXIT_GRACE) == 0
        finally:
            await asyncio.to_thread(child.wait, EXIT_GRACE)
            await asyncio.to_thread(self._dispatcher.close, 2.0)
        return ok

    async def wait_for_sync(self, timeout: float | None = None) -> int:
        child = self._running()
        limit = None if timeout is None else timeout + REPLY_GRACE
        txid: int = await asyncio.wait_for(asyncio.wrap_future(child.request(SYNC, timeout)), limit)
        self._txid = max(self._txid, txid)
        return txid

    async def status(self) -> ReplicationStatus:
        status: ReplicationStatus = await asyncio.wrap_future(self._running().request(STATUS))
        self._txid = max(self._txid, status.replica_txid)
        return status

    @property
    def txid(self) -> int:
        return self._txid

    @property
    def pid(self) -> int | None:
        """The replication process's id while it runs."""
        return self._child.pid if self._child is not None else None

    def _running(self) -> ChildProcess:
        if self._child is None:
            raise LitestreamError("replication is not running: start it first")
        return self._child

    def _deliver(self, event: Event) -> None:
        """On the reader thread, in the child's order."""
        if isinstance(event, LTXFileUploaded):
            self._txid = max(self._txid, event.max_txid)
        self._dispatcher.emit_nowait(event)
        if self._on_event is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                self._loop.call_soon_threadsafe(self._call_listener, event)

    def _call_listener(self, event: Event) -> None:
        assert self._on_event is not None
        try:
            self._on_event(event)
        except Exception:  # a listener must never stop replication
            log.exception("on_event failed", extra={"event": event.name})


def _entry_point_plugins(pm: pluggy.PluginManager, scheme: str) -> tuple[str, ...]:
    """The installed plugins ``pm`` loaded, for the child to load in turn.

    A backend registered by hand in this process cannot follow the engine into the
    child: say so, rather than fail there with an unknown scheme.
    """
    from litestream_core.plugins import plugin_statuses

    names = []
    for status in plugin_statuses(pm):
        if status.builtin or status.status != "loaded":
            continue
        if status.distribution is not None:
            names.append(status.name)
        elif any(s.split(" ")[0] == scheme for s in status.schemes):
            raise ConfigError(
                f"the {scheme!r} backend plugin {status.name!r} was registered in this "
                "process, so the replication process cannot load it",
                hint="install it as a 'litestream.plugins' entry point, or pass in_process=True",
            )
    return tuple(names)
