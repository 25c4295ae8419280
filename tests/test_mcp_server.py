"""The MCP server: an MCP client (the official SDK's) lists Go's tools and calls them.

The tools run our commands in this process; the answers are checked against what the
commands and the replica say, and one test drives the server a daemon starts from
``mcp-addr``.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import LITESTREAM, Writer, litestream, rows_of, stop_process, wait_for
from mcp.client import Client

from litestream_core import __version__
from litestream_core.ops.mcp_server import MCPServer
from litestream_core.testing.servers import free_port

# Go's tools and their parameters (cmd/litestream/mcp.go), which clients are set up for.
GO_TOOLS = {
    "litestream_info": ({"config"}, set()),
    "litestream_databases": ({"config"}, set()),
    "litestream_restore": (
        {"path", "o", "config", "txid", "timestamp", "parallelism", "if_db_not_exists",
         "if_replica_exists"},
        {"path"},
    ),
    "litestream_ltx": ({"path", "config"}, {"path"}),
    "litestream_version": (set(), set()),
    "litestream_status": ({"config", "path"}, set()),
    "litestream_reset": ({"path", "config"}, {"path"}),
}  # fmt: skip


def replicated(tmp_path: Path) -> tuple[Writer, Path, Path]:
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(10)
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(f"dbs:\n  - path: {db}\n    replica:\n      url: file://{replica}\n")
    result = litestream("replicate", "-once", "-config", str(cfg))
    assert result.returncode == 0, result.stderr
    return writer, cfg, replica


def test_client_lists_gos_tools_and_calls_them(tmp_path):
    writer, cfg, replica = replicated(tmp_path)
    db = tmp_path / "app.db"

    async def scenario() -> None:
        server = MCPServer(f"127.0.0.1:{free_port()}", config_path=str(cfg))
        await server.start()
        try:
            async with Client(f"http://127.0.0.1:{server.port}/mcp") as client:
                tools = (await client.list_tools()).tools
                schemas = {t.name: t.input_schema for t in tools}
                assert {name: (set(s["properties"]), set(s["required"]))
                        for name, s in schemas.items()} == GO_TOOLS  # fmt: skip
                assert all(t.description for t in tools)

                async def call(name: str, **args: object) -> tuple[str, bool]:
                    result = await client.call_tool(name, args)
                    return result.content[0].text, bool(result.is_error)

                assert await call("litestream_version") == (f"{__version__}\n", False)
                info, error = await call("litestream_info")
                assert not error and info.startswith("=== Litestream Status Report ===")
                assert f"Current Config Path:\n{cfg}" in info
                assert f"Database: {db}\n" in info and "min_txid" in info

                ltx, error = await call("litestream_ltx", path=f"file://{replica}")
                assert not error and ltx == litestream("ltx", f"file://{replica}").stdout
                status, error = await call("litestream_status")
                assert not error and str(db) in status and " ok " in status

                out = tmp_path / "restored.db"
                _, error = await call("litestream_restore", path=f"file://{replica}", o=str(out))
                assert not error and rows_of(out) == writer.rows()
                text, error = await call("litestream_restore", path=str(db), o=str(out))
                assert error and "already exists" in text and text.endswith("exit status 1")
                text, error = await call("litestream_restore", path=str(db), o=str(out),
                                         if_db_not_exists=True)  # fmt: skip
                assert not error

                text, error = await call("litestream_ltx", path=str(tmp_path / "nope.db"))
                assert error and "database not found in config" in text
        finally:
            await server.close()

    asyncio.run(scenario())
    writer.close()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_daemon_serves_mcp_at_mcp_addr(tmp_path):
    writer, cfg, _ = replicated(tmp_path)
    port = free_port()
    cfg.write_text(f"mcp-addr: 127.0.0.1:{port}\n" + cfg.read_text())
    proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for(lambda: _listening(port) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode()

        async def databases() -> str:
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                result = await client.call_tool("litestream_databases", {})
                assert not result.is_error
                return result.content[0].text

        text = asyncio.run(databases())
        assert [line.split() for line in text.splitlines()] == [
            ["path", "replica"], [str(tmp_path / "app.db"), "file"]]  # fmt: skip
    finally:
        code = stop_process(proc)
        assert code == 0, proc.stderr.read().decode()
    writer.close()
