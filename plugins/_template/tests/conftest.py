"""The server fixture: a real storage server, started by the tests on a free port.

Replace ``storage_server.py`` with your storage's own server or official emulator,
started the same way: as a child process on 127.0.0.1, waited for until it answers,
stopped at the end. No in-process mocks of your SDK: the conformance suite must talk to
something that behaves like production.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from litestream_core.testing.servers import answers_http, free_port, start_server, stop_server

TOKEN = "example-token-do-not-print"


class StorageServer:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"example://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def options(self) -> dict[str, str]:
        """The backend's own settings for this server (in a config: ``example-token``)."""
        return {"example-token": TOKEN}


@pytest.fixture(scope="session")
def storage_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageServer]:
    server = StorageServer(tmp_path_factory.mktemp("storage"))
    script = Path(__file__).with_name("storage_server.py")
    proc = start_server(
        [sys.executable, str(script), str(server.port), str(server.home / "data"), TOKEN],
        answers_http(f"{server.endpoint}/", any_status=True),  # 401 without the token: up
        name="storage server",
        port=server.port,
        log=server.home / "server.log",
    )
    try:
        yield server
    finally:
        stop_server(proc)
