"""Starting and stopping what the config asks the daemon to serve beside replication.

As in Go, a control socket or MCP server that cannot start is logged and replication
goes on: losing the socket must not stop backups. Each service is imported only when
configured. The two servers need the ``socket`` and ``mcp`` extras of litestream-core
(a plain install stays small); without them the log says what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from litestream_core.errors import describe

if TYPE_CHECKING:
    from litestream_core.config import Config
    from litestream_core.engine.dirs import DirectoryWatcher
    from litestream_core.engine.store import Store
    from litestream_core.ops.control_server import ControlServer
    from litestream_core.ops.mcp_server import MCPServer

log = logging.getLogger("litestream.server")

EXTRAS = {"socket": ("starlette", "uvicorn"), "mcp": ("mcp", "starlette", "uvicorn")}
"""The modules each optional server needs: litestream-core's extra of that name."""


def missing_extra(extra: str) -> str | None:
    """Why the extra's server cannot start (a module is not installed), else None."""
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'litestream-core[{extra}]')"
    return None


@dataclass
class Services:
    control: ControlServer | None = None
    mcp: MCPServer | None = None
    watchers: list[DirectoryWatcher] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop serving: first what could change the store, then the rest."""
        for watcher in self.watchers:
            await watcher.close()
        if self.control is not None:
            await self.control.close()
        if self.mcp is not None:
            await self.mcp.close()
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def start_services(config: Config, store: Store, *, config_path: str | None) -> Services:
    """The control socket, heartbeat, MCP server and directory watchers the config
    enables (after ``open``). A directory that cannot be watched stops the start, as in
    Go: its new databases would silently go unreplicated."""
    from litestream_core import __version__

    services = Services()
    try:
        await _watch_directories(config, store, services)
    except BaseException:
        await services.close()
        raise
    if config.socket.enabled and (reason := missing_extra("socket")):
        log.warning("control socket not started", extra={"error": reason})
    elif config.socket.enabled:
        from litestream_core.ops.control_server import ControlServer

        sock = config.socket
        control = ControlServer(
            store, path=sock.path, permissions=sock.permissions, version=__version__
        )
        try:
            await control.start()
            services.control = control
        except OSError as exc:
            log.warning("control socket not started",
                        extra={"path": sock.path, "error": describe(exc)})  # fmt: skip
    if config.heartbeat_url:
        from litestream_core.ops.heartbeat import Heartbeat

        heartbeat = Heartbeat(config.heartbeat_url, config.heartbeat_interval, store)
        services.tasks.append(asyncio.create_task(heartbeat.run(), name="heartbeat"))
    if config.validation_interval:
        from litestream_core.engine.validation import validate_periodically

        task = validate_periodically(store, config.validation_interval, len(config.levels))
        services.tasks.append(asyncio.create_task(task, name="validation"))
    if config.mcp_addr and (reason := missing_extra("mcp")):
        log.error("MCP server not started", extra={"addr": config.mcp_addr, "error": reason})
    elif config.mcp_addr:
        from litestream_core.ops.mcp_server import MCPServer, preload

        # The SDK takes seconds to import: not on the loop the databases sync on.
        await asyncio.to_thread(preload)
        try:
            mcp = MCPServer(config.mcp_addr, config_path=config_path)
            await mcp.start()
            services.mcp = mcp
        except OSError as exc:
            log.error("MCP server not started",
                      extra={"addr": config.mcp_addr, "error": describe(exc)})  # fmt: skip
    return services


async def _watch_directories(config: Config, store: Store, services: Services) -> None:
    if not any(d.watch for d in config.dirs):
        return
    from litestream_core.engine.dirs import DirectoryWatcher
    from litestream_core.errors import ConfigError

    for directory in config.dirs:
        if not directory.watch:
            continue
        known = [e.db.path for e in store.entries if directory.relative(e.db.path) is not None]
        watcher = DirectoryWatcher(directory, store, known)
        try:
            await watcher.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot watch directory {directory.dir}: {describe(exc)}",
                hint="raise fs.inotify.max_user_watches" if exc.errno == 28 else None,
            ) from None
        services.watchers.append(watcher)
