"""Serving an ASGI app on a socket we bound, inside the replicator's own event loop.

uvicorn normally owns the process: it installs SIGINT/SIGTERM handlers and binds the
socket itself (a Unix socket with mode 0666). The replicator owns both: its signal
handlers run the final sync, and the control socket's mode comes from the config. So
the socket is bound here and uvicorn's signal capture is turned off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

log = logging.getLogger("litestream.server")


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the replicator's own handlers stay in place


class EmbeddedServer:
    """One ASGI app served on one listening socket until ``close``."""

    def __init__(
        self, app: Any, sock: socket.socket, *, lifespan: bool, shutdown_timeout: float
    ) -> None:
        config = uvicorn.Config(
            app,
            lifespan="on" if lifespan else "off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(max(shutdown_timeout, 1)),
        )
        self._server = _InLoopServer(config)
        self._sock = sock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Serve; returns once the socket accepts connections (raises if start-up failed)."""
        self._task = asyncio.create_task(self._serve(), name="asgi server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError("server stopped during start-up")
            await asyncio.sleep(0.01)

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        except SystemExit:  # uvicorn's answer to a failed lifespan start-up
            raise OSError("application start-up failed") from None

    async def close(self) -> None:
        """Stop accepting, let running requests finish (bounded), then return."""
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        self._task = None
