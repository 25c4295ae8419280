"""Fixtures every test directory of the workspace shares (core, plugins, native)."""

from __future__ import annotations

from pathlib import Path

import pytest

from litestream_core.testing.e2e import build_distributions

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def workspace_dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every workspace distribution's sdist and wheel, built once for the session
    (outside the workspace): what a release would upload."""
    return build_distributions(ROOT, tmp_path_factory.mktemp("dists"))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Every async test runs on asyncio, the engine's event loop."""
    return "asyncio"


@pytest.fixture(autouse=True, scope="session")
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The CLI keeps an index of installed plugins in the user's cache directory
    (``litestream_core.plugin_index``): tests, and the commands they start, keep
    theirs in the session's temporary directory instead."""
    import os

    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
