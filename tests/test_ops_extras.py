"""The daemon's optional servers without their extras: a log line saying what to
install, and replication goes on (a plain `pip install litestream-core` has neither
the control socket's HTTP stack nor the MCP SDK)."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from litestream_core.config import parse_config
from litestream_core.engine.store import Store
from litestream_core.ops.services import missing_extra, start_services

CONFIG = "socket:\n  enabled: true\n  path: {sock}\nmcp-addr: '127.0.0.1:0'\ndbs: []\n"


@pytest.mark.parametrize("absent", ["uvicorn", "starlette", "mcp"])
def test_missing_extra_names_the_install(monkeypatch, absent):
    monkeypatch.setitem(sys.modules, absent, None)  # what an uninstalled module looks like
    for extra in ("socket", "mcp"):
        reason = missing_extra(extra)
        if extra == "socket" and absent == "mcp":
            assert reason is None
        else:
            assert reason == f"{absent} is not installed (pip install 'litestream-core[{extra}]')"


def test_servers_without_extras_are_logged_and_skipped(monkeypatch, caplog, tmp_path):
    for module in ("uvicorn", "starlette", "mcp"):
        monkeypatch.setitem(sys.modules, module, None)
    config = parse_config(CONFIG.format(sock=tmp_path / "ls.sock"))

    async def scenario() -> None:
        services = await start_services(config, Store([]), config_path=None)
        assert services.control is None and services.mcp is None
        await services.close()

    with caplog.at_level(logging.WARNING, logger="litestream.server"):
        asyncio.run(scenario())
    lines = [
        (r.getMessage(), getattr(r, "error", ""), getattr(r, "addr", "")) for r in caplog.records
    ]
    assert any(
        m == "control socket not started" and "litestream-core[socket]" in error
        for m, error, _ in lines
    ), lines
    assert any(
        m == "MCP server not started" and addr == "127.0.0.1:0" and "litestream-core[mcp]" in error
        for m, error, addr in lines
    ), lines
    assert not (tmp_path / "ls.sock").exists()
