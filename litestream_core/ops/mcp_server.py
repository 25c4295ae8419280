"""The MCP server (``mcp-addr``): Go Litestream's tools over Streamable HTTP.

An AI assistant connected here can look at and restore the databases this daemon
replicates. The tool names, parameters and text answers are Go's, so a client set up
for Go's server works unchanged. Go runs the ``litestream`` found on ``PATH`` for
each call (whatever version that is); here each tool runs the command in this process
(``cli.captured``), on a worker thread, so it is always this version's behaviour and
costs no process start.

The endpoint is ``/mcp``. Bound to a loopback address, the SDK also refuses requests
whose ``Host`` is not a loopback name (DNS rebinding protection).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestream_core.errors import describe
from litestream_core.ops.asgi import EmbeddedServer

if TYPE_CHECKING:
    import mcp_types
    from starlette.applications import Starlette

log = logging.getLogger("litestream.mcp")

SERVER_NAME = "Litestream MCP Server"


@dataclass(frozen=True)
class Param:
    description: str
    kind: str = "string"
    required: bool = False


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    params: dict[str, Param] = field(default_factory=dict)

    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                name: {"type": p.kind, "description": p.description}
                for name, p in self.params.items()
            },
            "required": [name for name, p in self.params.items() if p.required],
        }


_CONFIG = Param("Path of the Litestream config file. Optional.")
_PATH = Param("A database path or a replica URL.", required=True)

TOOLS = (
    Tool("litestream_info",
         "A status summary of this Litestream: its version, the configured databases and "
         "their LTX files.",
         {"config": _CONFIG}),
    Tool("litestream_databases",
         "The databases of the Litestream config file (default /etc/litestream.yml) and "
         "their replicas.",
         {"config": _CONFIG}),
    Tool("litestream_restore",
         "Restore a database from its Litestream replica.",
         {"path": _PATH,
          "o": Param("Where to write the restored database. Optional."),
          "config": _CONFIG,
          "txid": Param("Restore up to this transaction ID (hex). Optional."),
          "timestamp": Param("Restore the state at this time (RFC 3339). Optional."),
          "parallelism": Param("How many files to download at once. Optional."),
          "if_db_not_exists": Param("Succeed without restoring if the database exists. "
                                    "Optional.", kind="boolean"),
          "if_replica_exists": Param("Succeed without restoring if there is no backup. "
                                     "Optional.", kind="boolean")}),
    Tool("litestream_ltx",
         "The LTX files of a database or replica URL.",
         {"path": _PATH,
          "config": Param("Path of the Litestream config file. Optional; not used with a "
                          "replica URL.")}),
    Tool("litestream_version", "The Litestream version."),
    Tool("litestream_status",
         "Local replication status of each database: path, status, local transaction ID "
         "and WAL size.",
         {"config": _CONFIG,
          "path": Param("Only this database. Optional.")}),
    Tool("litestream_reset",
         "Remove a database's local Litestream state (its LTX files) so the next sync "
         "starts with a fresh snapshot. The database itself is not changed.",
         {"path": Param("The database whose local state to reset.", required=True),
          "config": _CONFIG}),
)  # fmt: skip


class ToolError(Exception):
    """A tool's command failed; the message is its output, as Go reports it."""


class Tools:
    """Each tool as the ``litestream`` command line it runs (Go's arguments)."""

    def __init__(
        self, config_path: str | None, run: Callable[[list[str]], tuple[int, str]]
    ) -> None:
        self.config_path = config_path
        self._run = run

    def _config(self, args: dict[str, Any], path: str = "") -> list[str]:
        """``-config`` for a database path; Go's commands refuse it with a replica URL."""
        if "://" in path:
            return []
        config = args.get("config") or self.config_path
        return ["-config", str(config)] if config else []

    def command(self, argv: list[str]) -> str:
        code, output = self._run(argv)
        if code != 0:
            raise ToolError(f"{output.strip()}: exit status {code}")
        return output

    def call(self, name: str, args: dict[str, Any]) -> str:
        path = str(args.get("path") or "")
        if name == "litestream_version":
            return self.command(["version"])
        if name == "litestream_databases":
            return self.command(["databases", *self._config(args)])
        if name == "litestream_status":
            return self.command(["status", *self._config(args), *([path] if path else [])])
        if name == "litestream_ltx":
            return self.command(["ltx", *self._config(args, path), path])
        if name == "litestream_reset":
            return self.command(["reset", *self._config(args), path])
        if name == "litestream_restore":
            return self.command(self._restore_args(args, path))
        if name == "litestream_info":
            return self._info(args)
        raise ToolError(f"unknown tool: {name}")

    def _restore_args(self, args: dict[str, Any], path: str) -> list[str]:
        argv = ["restore"]
        if args.get("o"):
            argv += ["-o", str(args["o"])]
        argv += self._config(args, path)
        for key in ("txid", "timestamp", "parallelism"):
            if args.get(key):
                argv += [f"-{key}", str(args[key])]
        for key in ("if_db_not_exists", "if_replica_exists"):
            if args.get(key) is True:
                argv.append("-" + key.replace("_", "-"))
        return [*argv, path]

    def _info(self, args: dict[str, Any]) -> str:
        """Version, config path, databases, and each database's LTX files."""
        from litestream_core.config import load_config
        from litestream_core.errors import LitestreamError

        config = args.get("config") or self.config_path
        parts = ["=== Litestream Status Report ===\n\n"]
        parts.append(f"Version Information:\n{self.command(['version'])}\n")
        parts.append(f"Current Config Path:\n{config or '(default)'}\n\n")
        parts.append(f"Databases:\n{self.command(['databases', *self._config(args)])}\n")
        parts.append("LTX Files:\n")
        try:
            paths = [str(db.path) for db in load_config(config).dbs]
        except LitestreamError as exc:
            raise ToolError(exc.one_line()) from None
        for path in paths:
            code, output = self._run(["ltx", *self._config(args), path])
            if code != 0:
                parts.append(f"Failed to get LTX files for {path}: exit status {code}\n{output}")
                continue
            parts.append(f"Database: {path}\n{output}\n")
        return "".join(parts)


class MCPServer:
    """Serves ``TOOLS`` at ``http://ADDR/mcp`` until ``close``."""

    def __init__(
        self,
        addr: str,
        *,
        config_path: str | None,
        run: Callable[[list[str]], tuple[int, str]] | None = None,
    ) -> None:
        from litestream_core.cli.captured import run_captured

        self.host, self.port = _split_addr(addr)
        self.tools = Tools(config_path, run or run_captured)
        self._server: EmbeddedServer | None = None

    def app(self) -> Starlette:
        import mcp_types as types
        from mcp.server.lowlevel import Server

        from litestream_core import __version__

        async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
            return types.ListToolsResult(
                tools=[
                    types.Tool(name=t.name, description=t.description,
                               input_schema=t.input_schema())
                    for t in TOOLS
                ]
            )  # fmt: skip

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            return await self.call(params.name, params.arguments or {})

        server: Server[Any] = Server(
            SERVER_NAME, version=__version__, on_list_tools=list_tools, on_call_tool=call_tool
        )
        return server.streamable_http_app(host=self.host or "0.0.0.0")

    async def call(self, name: str, args: dict[str, Any]) -> mcp_types.CallToolResult:
        """One tool call; a failure is a tool error result, never a protocol error."""
        import mcp_types as types

        try:
            text = await asyncio.to_thread(self.tools.call, name, args)
            error = False
        except ToolError as exc:
            text, error = str(exc), True
        except Exception as exc:
            log.error("MCP tool failed", extra={"tool": name, "error": describe(exc)})
            text, error = describe(exc), True
        return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error)

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host or "0.0.0.0", self.port), family=family)
        self._server = EmbeddedServer(self.app(), sock, lifespan=True, shutdown_timeout=10)
        try:
            await self._server.start()
        except BaseException:
            sock.close()
            raise
        log.info("MCP server listening",
                 extra={"addr": f"{self.host or '0.0.0.0'}:{self.port}"})  # fmt: skip

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None


def preload() -> None:
    """Import the MCP SDK (slow: pydantic models by the hundred)."""
    import mcp.server.lowlevel  # noqa: F401


def _split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` as Go's ``net.Listen`` takes it; an empty host means every address."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise OSError(f"mcp-addr {addr!r}: expected HOST:PORT (e.g. localhost:3001)")
    return host.strip("[]"), int(port)
