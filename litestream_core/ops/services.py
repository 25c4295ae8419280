"""Starting and stopping what the config asks the daemon to serve beside replication.

As in Go, a control socket or MCP server that cannot start is logged and replication
goes on: losing the socket must not stop backups. Each service is imported only when
configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from litestream_core.errors import describe

if TYPE_CHECKING:
    from litestream_core.config import Config
    from litestream_core.engine.store import Store
    from litestream_core.ops.control_server import ControlServer
    from litestream_core.ops.mcp_server import MCPServer

log = logging.getLogger("litestream.server")


@dataclass
class Services:
    control: ControlServer | None = None
    mcp: MCPServer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop serving: first requests that could change the store, then the rest."""
        if self.control is not None:
            await self.control.close()
        if self.mcp is not None:
            await self.mcp.close()
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def start_services(config: Config, store: Store, *, config_path: str | None) -> Services:
    """The control socket, heartbeat and MCP server the config enables (after ``open``)."""
    from litestream_core import __version__

    services = Services()
    if config.socket.enabled:
        from litestream_core.ops.control_server import ControlServer

        sock = config.socket
        control = ControlServer(
            store, path=sock.path, permissions=sock.permissions, version=__version__
        )
        try:
            await control.start()
            services.control = control
        except OSError as exc:
            log.warning("failed to start control server: %s", describe(exc))
    if config.heartbeat_url:
        from litestream_core.ops.heartbeat import Heartbeat

        heartbeat = Heartbeat(config.heartbeat_url, config.heartbeat_interval, store)
        services.tasks.append(asyncio.create_task(heartbeat.run(), name="heartbeat"))
    if config.mcp_addr:
        from litestream_core.ops.mcp_server import MCPServer, preload

        # The SDK takes seconds to import: not on the loop the databases sync on.
        await asyncio.to_thread(preload)
        try:
            mcp = MCPServer(config.mcp_addr, config_path=config_path)
            await mcp.start()
            services.mcp = mcp
        except OSError as exc:
            log.error("failed to start MCP server on %s: %s", config.mcp_addr, describe(exc))
    return services
