"""A real S3 server for the tests: moto's HTTP server on 127.0.0.1, on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
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

ACCESS_KEY_ID = "AKIATESTKEYID0000000"
SECRET_ACCESS_KEY = "test-secret-do-not-print-5f2d1c"


class MotoServer:
    """moto_server as a child process; stop() and start() keep the same port.

    moto keeps its state in memory, so a restarted server is empty: tests that restart
    it recreate their bucket.
    """

    def __init__(self, log_dir: Path, *, tls: bool = False) -> None:
        self.port = free_port()
        self.tls = tls
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._log = log_dir / f"moto-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        argv += ["--ssl"] if self.tls else []  # a self-signed certificate
        ready = answers_http(f"{self.endpoint}/moto-api/", verify=False)
        self._proc = start_server(
            argv,
            ready,
            name="moto_server",
            port=self.port,
            log=self._log,
            env={**os.environ, **(env or {})},
        )

    def stop(self) -> None:
        stop_server(self._proc)
        self._proc = None

    def boto3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            verify=not self.tls,
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


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server for the whole session (tests use their own bucket or prefix)."""
    with running(MotoServer(tmp_path_factory.mktemp("moto"))) as server:
        yield server


@pytest.fixture
def own_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server of this test's own, which the test may stop and restart."""
    with running(MotoServer(tmp_path_factory.mktemp("moto"))) as server:
        yield server


@pytest.fixture(scope="session")
def bucket(moto: MotoServer) -> str:
    return moto.make_bucket("litestream-conformance")


@pytest.fixture
def go_env() -> dict[str, str]:
    """Environment for the Go binary: the test credentials, and no AWS_CA_BUNDLE (it
    breaks the Go S3 client)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = ACCESS_KEY_ID
    env["AWS_SECRET_ACCESS_KEY"] = SECRET_ACCESS_KEY
    return env
