"""A real Azure Blob server for the tests: Azurite on 127.0.0.1, on a free port.

Azurite comes from npm (``.ci/deps/abs.sh`` installs it into ``<repo>/.tools``) and
keeps its data in a directory, so a restarted server still has its blobs.
"""

from __future__ import annotations

import os
import shutil
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

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "devstoreaccount1"
# Azurite's published development key: public, and only ever valid against Azurite.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def azurite_binary() -> Path:
    path = Path(os.environ.get("AZURITE_BLOB", ROOT / ".tools/node_modules/.bin/azurite-blob"))
    if not path.exists():
        found = shutil.which("azurite-blob")
        if found is None:
            pytest.fail(f"Azurite not found at {path}; run `bash .ci/deps/abs.sh`")
        path = Path(found)
    return path


class Azurite:
    """azurite-blob as a child process; stop() and start() keep the port and the data."""

    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/{ACCOUNT}"
        self._dir = work_dir
        self._log = work_dir / "azurite.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [str(azurite_binary()), "--blobHost", "127.0.0.1", "--blobPort", str(self.port)]
        argv += ["--location", str(self._dir / "data"), "--skipApiVersionCheck", "--loose"]
        argv += ["--disableTelemetry"]  # it would otherwise send usage data off the machine
        # Without credentials it refuses the listing, as it should: any answer will do.
        ready = answers_http(f"{self.endpoint}?comp=list", any_status=True)
        self._proc = start_server(argv, ready, name="Azurite", port=self.port, log=self._log)

    def stop(self) -> None:
        stop_server(self._proc)
        self._proc = None

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(
            self.endpoint, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY}
        )

    def make_container(self, name: str | None = None) -> str:
        name = name or f"ctr-{uuid.uuid4().hex[:12]}"
        self.service().create_container(name)
        return name

    def options(self, **extra: Any) -> dict[str, Any]:
        """Replica config keys reaching this server with the development account."""
        return {
            "endpoint": self.endpoint,
            "account-name": ACCOUNT,
            "account-key": ACCOUNT_KEY,
            **extra,
        }


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with running(Azurite(tmp_path_factory.mktemp("azurite"))) as server:
        yield server


@pytest.fixture
def own_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A server of this test's own, which the test may stop and restart."""
    with running(Azurite(tmp_path_factory.mktemp("azurite"))) as server:
        yield server


@pytest.fixture(scope="session")
def container(azurite: Azurite) -> str:
    return azurite.make_container("litestream-conformance")
