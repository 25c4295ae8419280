"""A real object store for the OSS tests: moto's S3 server with an OSS-dialect front.

Our client speaks OSS's S3-compatible API, which moto serves as it is; the Go binary's
OSS client signs the OSS way and sends ``x-oss-meta-*`` headers, which the front in
``oss_moto.py`` routes to moto's S3 backend and renames (OSS keeps one store behind both
APIs). Each test's bucket is its own.
"""

from __future__ import annotations

import os
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

ACCESS_KEY_ID = "LTAItestkeyid0000000"
SECRET_ACCESS_KEY = "oss-secret-do-not-print-3b9e"


class OSSMotoServer:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = log_dir / f"oss-moto-{self.port}.log"
        self._proc: Any = None

    def start(self) -> None:
        script = Path(__file__).with_name("oss_moto.py")
        self._proc = start_server(
            [sys.executable, str(script), str(self.port)],
            answers_http(f"{self.endpoint}/moto-api/"),
            name="moto (OSS front)",
            port=self.port,
            log=self._log,
        )

    def stop(self) -> None:
        stop_server(self._proc)
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

    def make_bucket(self) -> str:
        name = f"oss-{uuid.uuid4().hex[:12]}"
        self.boto3_client().create_bucket(Bucket=name)
        return name

    def options(self, **extra: Any) -> dict[str, Any]:
        """Go's OSS config keys reaching this server."""
        return {
            "endpoint": self.endpoint,
            "access-key-id": ACCESS_KEY_ID,
            "secret-access-key": SECRET_ACCESS_KEY,
            **extra,
        }


@pytest.fixture(scope="session")
def oss(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OSSMotoServer]:
    with running(OSSMotoServer(tmp_path_factory.mktemp("oss"))) as server:
        yield server


@pytest.fixture(scope="session")
def bucket(oss: OSSMotoServer) -> str:
    return oss.make_bucket()


@pytest.fixture
def go_env() -> dict[str, str]:
    """The Go binary's environment: no AWS_* variables (AWS_CA_BUNDLE breaks its clients)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OSS_"))}
