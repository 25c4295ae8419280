"""A real WebDAV server for the tests: WsgiDAV under gunicorn on 127.0.0.1.

WsgiDAV's own default server (cheroot) answers the Go binary's requests with "400
Malformed Request-Line"; under gunicorn both tools work with it. It serves a directory
of the test's temporary space with basic authentication.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from litestream_core.testing.servers import (
    answers_http,
    free_port,
    running,
    start_server,
    stop_server,
)

USER = "litestream"
PASSWORD = "dav-secret-do-not-print-7c1e"


class WsgiDAVServer:
    """One WsgiDAV server; ``root`` is the directory it serves."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.root = home / "data"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.config_file = home / "dav.yaml"  # WsgiDAV wants the .yaml suffix
        self.config_file.write_text(
            "\n".join(
                [
                    "host: 127.0.0.1",
                    f"port: {self.port}",
                    "server: gunicorn",
                    # One process (its lock manager is in memory), threads for parallel requests.
                    "server_args: {workers: 1, threads: 16, timeout: 120}",
                    "provider_mapping:",
                    f"  '/': '{self.root}'",
                    "http_authenticator:",
                    "  accept_basic: true",
                    "  accept_digest: false",
                    "  default_to_digest: false",
                    "simple_dc:",
                    "  user_mapping:",
                    f"    '*': {{'{USER}': {{password: '{PASSWORD}'}}}}",
                    "verbose: 1",
                    "logging: {enable_loggers: []}",
                    "",
                ]
            )
        )
        self._proc: Any = None

    def url(self, path: str, *, scheme: str = "webdav", auth: bool = True) -> str:
        userinfo = f"{USER}:{PASSWORD}@" if auth else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}/{path.lstrip('/')}"

    def options(self, **extra: Any) -> dict[str, Any]:
        """Go's config keys reaching this server (for a replica given by type and path)."""
        return {
            "webdav-url": self.endpoint,
            "webdav-username": USER,
            "webdav-password": PASSWORD,
            **extra,
        }

    def start(self) -> None:
        wsgidav = Path(sys.executable).with_name("wsgidav")
        if not wsgidav.exists():
            pytest.fail(f"{wsgidav} missing: run `uv sync` (wsgidav is in the dev group)")
        self._proc = start_server(
            [str(wsgidav), "--config", str(self.config_file)],
            answers_http(f"{self.endpoint}/", any_status=True),
            name="wsgidav",
            port=self.port,
            log=self.home / "wsgidav.log",
        )

    def stop(self) -> None:
        stop_server(self._proc)
        self._proc = None


@pytest.fixture(scope="session")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsgiDAVServer]:
    """One WebDAV server for the session (tests use their own directory)."""
    with running(WsgiDAVServer(tmp_path_factory.mktemp("dav"))) as server:
        yield server
