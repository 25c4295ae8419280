"""The replication process: ``main([_, FD, ...])``, started by ``_process.ChildProcess``.

It runs the engine for one database and obeys the application over the socket FD.
It ends with a final sync (bounded by the shutdown timeout) when told to stop, on
SIGTERM, and when the application goes away: the socket reaches end-of-file when
the parent dies, however it dies, and the parent pid is watched as well in case the
application forked and a child of its own still holds the socket open. Ctrl-C in a
terminal reaches the whole process group; this process ignores it and lets the
application decide when to stop, so the final sync is not cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import queue
import signal
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from litestream_core.api._inprocess import InProcessReplication
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
    portable_error,
)
from litestream_core.errors import LitestreamError
from litestream_core.logs import record_fields

if TYPE_CHECKING:
    import pluggy

PARENT_POLL_INTERVAL = 0.5
"""Seconds between checks that the application process is still alive."""


class _Outbox:
    """Sends from one thread, so a slow parent never blocks the engine's event loop."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="litestream-outbox", daemon=True)
        self._thread.start()

    def put(self, message: tuple[Any, ...]) -> None:
        self._queue.put(message)

    def close(self, timeout: float) -> None:
        """Send what is queued (the parent may be gone: then give up quietly)."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self._conn.send(message)
            except (OSError, ValueError):
                return  # the application is gone; the inbox sees it too


class _ForwardLogs(logging.Handler):
    """The engine's log lines go to the application's own logging configuration."""

    def __init__(self, outbox: _Outbox) -> None:
        super().__init__()
        self._outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            text = record.getMessage()
            if record.exc_info:
                # The traceback of an unexpected error is what the application's log
                # needs most: it cannot be recovered once the child process is gone.
                # (exc_text: the one the redaction filter already cleaned.)
                trace = record.exc_text or logging.Formatter().formatException(record.exc_info)
                text += "\n" + trace
            fields = {k: v for k, v in record_fields(record).items() if _plain(v)}
            self._outbox.put((LOG, record.name, record.levelno, text, fields))


def _plain(value: object) -> bool:
    """Whether a field can cross to the application as it is (pickled)."""
    return isinstance(value, str | int | float | bool) or value is None


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[1]))
    try:
        op, request, spec = conn.recv()
    except (EOFError, OSError):
        return 1
    if op != START or not isinstance(spec, ChildSpec):
        return 2
    from litestream_core.plugins import get_plugin_manager, replica_secrets
    from litestream_core.settings import RedactSecrets

    outbox = _Outbox(conn)
    handler = _ForwardLogs(outbox)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(spec.log_level)
    try:
        try:
            pm = get_plugin_manager(only=spec.plugins)
            handler.addFilter(RedactSecrets(replica_secrets(pm, spec.replica_url, spec.options)))
        except Exception as exc:  # strict mode, a conflict: the application is told
            outbox.put((REPLY, request, False, portable_error(exc)))
            return 1
        code = asyncio.run(_serve(conn, outbox, request, spec, pm))
    finally:
        outbox.close(timeout=5.0)
        conn.close()
    return code


async def _serve(
    conn: Connection, outbox: _Outbox, start_id: int, spec: ChildSpec, pm: pluggy.PluginManager
) -> int:
    def reply(request: int, ok: bool, value: object) -> None:
        outbox.put((REPLY, request, ok, value))

    inbox: asyncio.Queue[tuple[str, int, Any] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(
        target=_read, args=(conn, loop, inbox), name="litestream-inbox", daemon=True
    ).start()
    loop.add_signal_handler(signal.SIGTERM, inbox.put_nowait, (STOP, -1, None))
    watcher = asyncio.create_task(_watch_parent(spec.parent_pid, inbox))
    try:
        replication = await _start(spec, outbox, inbox, pm)
    except Exception as exc:
        watcher.cancel()
        reply(start_id, False, portable_error(exc))
        return 1
    reply(start_id, True, await _status(replication))

    syncs: set[asyncio.Task[None]] = set()

    async def sync(request: int, timeout: float | None) -> None:
        try:
            txid = await replication.wait_for_sync(timeout)
        except asyncio.CancelledError:
            reply(request, False, LitestreamError("replication stopped before the sync finished"))
        except Exception as exc:
            reply(request, False, portable_error(exc))
        else:
            reply(request, True, txid)

    stop_id = -1
    while (message := await inbox.get()) is not None:
        op, request, argument = message
        if op == SYNC:
            task = asyncio.create_task(sync(request, argument))
            syncs.add(task)
            task.add_done_callback(syncs.discard)
        elif op == STATUS:
            reply(request, True, await _status(replication))
        elif op == STOP:
            stop_id = request
            break
    watcher.cancel()
    for task in list(syncs):
        task.cancel()
    await asyncio.gather(*syncs, return_exceptions=True)
    try:
        ok = await replication.stop()
    except Exception as exc:
        if stop_id >= 0:
            reply(stop_id, False, portable_error(exc))
        return 1
    if stop_id >= 0:
        reply(stop_id, True, ok)
    return 0 if ok else 1


async def _start(
    spec: ChildSpec,
    outbox: _Outbox,
    inbox: asyncio.Queue[tuple[str, int, Any] | None],
    pm: pluggy.PluginManager,
) -> InProcessReplication:
    """Open the database and replica, unless the application goes away (or SIGTERM)
    first: storage that does not answer must not keep an orphan waiting."""
    replication = InProcessReplication(
        spec.db_path,
        spec.replica_url,
        options=spec.options,
        db_settings=spec.db_settings,
        replica_settings=spec.replica_settings,
        compaction=spec.compaction,
        shutdown_sync_timeout=spec.shutdown_sync_timeout,
        pm=pm,
        on_event=lambda event: outbox.put((EVENT, event)),
        dispatch_events=False,
        compression=spec.compression,
    )
    starting = asyncio.create_task(replication.start())
    gone = asyncio.create_task(inbox.get())
    await asyncio.wait({starting, gone}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done():
        if gone.done():
            inbox.put_nowait(gone.result())  # stop or gone: the main loop acts on it
        gone.cancel()
        starting.result()
        return replication
    starting.cancel()
    with contextlib.suppress(BaseException):
        await starting
    raise LitestreamError("replication was stopped while it was starting")


async def _status(replication: InProcessReplication) -> ReplicationStatus:
    return dataclasses.replace(await replication.status(), pid=os.getpid())


def _read(
    conn: Connection,
    loop: asyncio.AbstractEventLoop,
    inbox: asyncio.Queue[tuple[str, int, Any] | None],
) -> None:
    """Blocking reads on a thread; None in the inbox means the application is gone."""
    message: tuple[str, int, Any] | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            message = None
        try:
            loop.call_soon_threadsafe(inbox.put_nowait, message)
        except RuntimeError:
            return  # the loop has finished: we are exiting anyway
        if message is None:
            return


async def _watch_parent(parent_pid: int, inbox: asyncio.Queue[tuple[str, int, Any] | None]) -> None:
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_POLL_INTERVAL)
    inbox.put_nowait(None)
