"""The control socket: Go Litestream's HTTP API on a Unix socket, served by the daemon.

Endpoints, bodies, status words and HTTP codes are Go's (``server.go`` of v0.5), so
Go's ``litestream sync -wait`` and friends drive this daemon unchanged. Every failure
is a JSON ``{"error", "details"}`` body, never a traceback. Go's ``/debug/pprof/*``
has no Python counterpart and is not served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from litestream_core.engine.store import (
    DatabaseNotOpenError,
    Entry,
    ReplicaURLError,
    Store,
)
from litestream_core.errors import describe
from litestream_core.ops.asgi import EmbeddedServer
from litestream_core.ops.wire import encode, expand_path, go_time

log = logging.getLogger("litestream.server")

DEFAULT_TIMEOUT = 30
"""Seconds Go's daemon allows ``stop``, ``unregister`` and ``sync -wait`` by default."""

Handler = Callable[[Request], Awaitable[Response]]


class RequestError(Exception):
    """Answered as ``{"error": message, "details": details}`` with ``status``."""

    def __init__(self, status: int, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(encode(body), status_code=status, media_type="application/json")


def _error(status: int, message: str, details: str | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return _json(status, body)


_FIELD_TYPES: dict[str, type] = {"path": str, "replica_url": str, "timeout": int, "wait": bool}


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object, typed as Go decodes it (unknown keys ignored)."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "invalid request body", str(exc)) from None
    if body is None:
        raise RequestError(400, "invalid request body", "EOF")
    if not isinstance(body, dict):
        raise RequestError(400, "invalid request body", "expected a JSON object")
    for key, kind in _FIELD_TYPES.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RequestError(400, "invalid request body", f"{key}: expected {kind.__name__}")
    return body


def _path(value: Any) -> str:
    if not value:
        raise RequestError(400, "path required")
    try:
        return expand_path(value)
    except (OSError, ValueError) as exc:
        raise RequestError(400, f"invalid path: {exc}") from None


def _answering_errors(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except RequestError as exc:
            return _error(exc.status, str(exc), exc.details)
        except Exception as exc:
            log.error("control request failed",
                      extra={"request": request.url.path, "error": describe(exc)})  # fmt: skip
            return _error(500, describe(exc))

    return wrapped


class ControlServer:
    """Go's control API over ``store``, on a Unix socket at ``path``."""

    def __init__(
        self, store: Store, *, path: str, permissions: int = 0o600, version: str = ""
    ) -> None:
        self.store = store
        self.path = path
        self.permissions = permissions
        self.version = version
        self.started_at = datetime.now(UTC)
        self._started = time.monotonic()
        self._server: EmbeddedServer | None = None
        self._inode: int | None = None

    def app(self) -> Starlette:
        routes = [
            ("/start", "POST", self._start),
            ("/stop", "POST", self._stop),
            ("/register", "POST", self._register),
            ("/unregister", "POST", self._unregister),
            ("/sync", "POST", self._sync),
            ("/txid", "GET", self._txid),
            ("/list", "GET", self._list),
            ("/info", "GET", self._info),
            ("/debug/sync-status", "GET", self._sync_status),
        ]
        return Starlette(routes=[Route(p, _answering_errors(h), methods=[m]) for p, m, h in routes])

    async def start(self) -> None:
        """Bind the socket (replacing a stale socket, never another file) and serve."""
        sock = self._bind()
        self._server = EmbeddedServer(self.app(), sock, lifespan=False, shutdown_timeout=5)
        try:
            await self._server.start()
        except BaseException:
            await self.close()
            raise
        self.started_at, self._started = datetime.now(UTC), time.monotonic()
        log.info("control socket listening", extra={"path": self.path})

    def _bind(self) -> socket.socket:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OSError(f"check socket path: {exc.strerror or exc}: {self.path}") from None
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise OSError(f"socket path exists but is not a socket: {self.path}")
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.bind(self.path)
            except OSError as exc:
                reason = exc.strerror or exc
                raise OSError(f"listen on unix socket: {reason}: {self.path}") from None
            self._inode = os.lstat(self.path).st_ino
            try:
                os.chmod(self.path, self.permissions)
            except OSError as exc:
                raise OSError(f"chmod socket: {exc.strerror or exc}: {self.path}") from None
            sock.listen(128)
        except BaseException:
            sock.close()
            self._unlink()
            raise
        return sock

    async def close(self) -> None:
        """Stop serving (running requests get a few seconds) and remove the socket file."""
        if self._server is not None:
            await self._server.close()
            self._server = None
        self._unlink()

    def _unlink(self) -> None:
        """Remove the socket file if it is still ours (a new daemon may own the path)."""
        if self._inode is None:
            return
        with contextlib.suppress(OSError):
            if os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        self._inode = None

    # -- endpoints ---------------------------------------------------------------------

    def _entry(self, path: str, status: int = 500) -> Entry:
        entry = self.store.find(path)
        if entry is None:
            raise RequestError(status, f"database not found: {path}")
        return entry

    async def _start(self, request: Request) -> Response:
        body = await _body(request)
        path = _path(body.get("path"))
        entry = self._entry(path)
        timeout = body.get("timeout") or 0
        try:
            started = await asyncio.wait_for(self.store.start_db(entry), timeout or None)
        except TimeoutError:
            raise RequestError(500, f"enable database: timed out after {timeout}s") from None
        except Exception as exc:
            raise RequestError(500, f"open database: {describe(exc)}") from None
        status = "started" if started else "already_running"
        return _json(200, {"status": status, "path": path, "txid": entry.db.pos().txid})

    async def _stop(self, request: Request) -> Response:
        body = await _body(request)
        path = _path(body.get("path"))
        entry = self._entry(path)
        timeout = body.get("timeout") or DEFAULT_TIMEOUT
        try:
            stopped = await self.store.stop_db(entry, timeout)
        except Exception as exc:
            raise RequestError(500, f"close database: {describe(exc)}") from None
        status = "stopped" if stopped else "already_stopped"
        return _json(200, {"status": status, "path": path, "txid": entry.db.pos().txid})

    async def _register(self, request: Request) -> Response:
        body = await _body(request)
        if not body.get("path"):
            raise RequestError(400, "path required")
        if not body.get("replica_url"):
            raise RequestError(400, "replica_url required")
        path = _path(body["path"])
        try:
            entry = await self.store.register(path, body["replica_url"])
        except ReplicaURLError as exc:
            raise RequestError(400, f"invalid replica url: {exc.one_line()}") from None
        except Exception as exc:
            raise RequestError(500, f"failed to register database: {describe(exc)}") from None
        status = "registered" if entry is not None else "already_registered"
        return _json(200, {"status": status, "path": path})

    async def _unregister(self, request: Request) -> Response:
        body = await _body(request)
        path = _path(body.get("path"))
        timeout = body.get("timeout") or 0
        try:
            entry = await self.store.unregister(path, timeout if timeout > 0 else DEFAULT_TIMEOUT)
        except Exception as exc:
            raise RequestError(500, f"failed to unregister database: {describe(exc)}") from None
        if entry is None:
            return _json(200, {"status": "already_unregistered", "path": path, "txid": 0})
        return _json(200, {"status": "unregistered", "path": path, "txid": entry.db.pos().txid})

    async def _sync(self, request: Request) -> Response:
        body = await _body(request)
        path = _path(body.get("path"))
        entry = self._entry(path, status=404)
        wait = bool(body.get("wait"))
        timeout = body.get("timeout") or (DEFAULT_TIMEOUT if wait else 0)
        try:
            result = await self.store.sync_db(entry, wait=wait, timeout=timeout or None)
        except DatabaseNotOpenError as exc:
            raise RequestError(409, str(exc)) from None
        except TimeoutError:
            raise RequestError(500, f"sync database: timed out after {timeout}s") from None
        except Exception as exc:
            raise RequestError(500, f"sync database: {describe(exc)}") from None
        status = "no_change" if not result.changed else "synced" if wait else "synced_local"
        return _json(200, {"status": status, "path": path, "txid": result.txid,
                           "replicated_txid": result.replicated_txid})  # fmt: skip

    async def _txid(self, request: Request) -> Response:
        entry = self.store.find(_path(request.query_params.get("path")))
        if entry is None:
            raise RequestError(404, "database not found")
        return _json(200, {"txid": entry.db.pos().txid})

    async def _list(self, request: Request) -> Response:
        databases = []
        for entry in list(self.store.entries):
            row: dict[str, Any] = {"path": str(entry.db.path), "status": _state(entry, self.store)}
            synced = [r.last_synced_at for r in entry.replicas]
            if synced and None not in synced:  # the replica that synced longest ago
                row["last_sync_at"] = go_time(min(t for t in synced if t is not None))
            databases.append(row)
        return _json(200, {"databases": databases})

    async def _info(self, request: Request) -> Response:
        return _json(200, {
            "version": self.version, "pid": os.getpid(),
            "uptime_seconds": int(time.monotonic() - self._started),
            "started_at": go_time(self.started_at), "database_count": len(self.store.entries),
        })  # fmt: skip

    async def _sync_status(self, request: Request) -> Response:
        """Go's phase tracker has no counterpart; this reports what the engine knows."""
        entries = list(self.store.entries)
        if wanted := request.query_params.get("path"):
            found = self.store.find(_path(wanted))
            if found is None:
                raise RequestError(404, "database not found")
            entries = [found]
        return _json(200, {"databases": [_diagnostic(e) for e in entries]})


def _state(entry: Entry, store: Store) -> str:
    if not entry.opened:
        return "stopped"
    return "replicating" if entry.replica is not None and store.running else "open"


def _diagnostic(entry: Entry) -> dict[str, Any]:
    """Go's ``SyncDiagnostic`` keys where we have the value (Go omits empty ones too),
    plus the replica's TXID. Go's ``active``/``phase`` tracker has no counterpart."""
    row: dict[str, Any] = {"path": str(entry.db.path)}
    if txid := entry.db.pos().txid:
        row["txid"] = txid
    with contextlib.suppress(OSError):
        if size := os.stat(f"{entry.db.path}-wal").st_size:
            row["wal_size"] = size
    if entry.replicas:
        if txid := entry.replicated_txid():
            row["replica_txid"] = txid
        several = len(entry.replicas) > 1
        if errors := [(r.name, r.last_error) for r in entry.replicas if r.last_error]:
            row["error"] = "; ".join(f"{n}: {e}" if several else e for n, e in errors)
        if several:  # beyond Go: each replica's own position
            row["replicas"] = [
                {"name": r.name, "replica_txid": r.pos.txid,
                 **({"error": r.last_error} if r.last_error else {})}
                for r in entry.replicas
            ]  # fmt: skip
    return row
