"""The ``litestream`` pytest plugin: fixtures for backend tests, nothing automatic.

pytest loads it in every run where litestream-core is installed, so it imports only
pytest here, adds no autouse fixtures, and can be turned off with ``-p no:litestream``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# Before any suite module is imported, so failures inside the suite show the values.
pytest.register_assert_rewrite("litestream_core.testing")


@pytest.fixture
def replica_prefix(request: pytest.FixtureRequest) -> str:
    """A fresh storage prefix for this test: readable, unique, safe in any key scheme."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"litestream-test/{name}-{uuid.uuid4().hex[:12]}"


class LTXFactory:
    """Makes valid LTX files; each call gets a later header timestamp than the last."""

    def __init__(self, start_ms: int) -> None:
        self._next_ms = start_ms

    def __call__(
        self,
        min_txid: int,
        max_txid: int,
        *,
        timestamp_ms: int | None = None,
        page_size: int = 4096,
        pages: int | Sequence[tuple[int, bytes]] = 1,
        seed: int = 0,
    ) -> bytes:
        from litestream_core.testing.ltxgen import make_ltx_bytes

        if timestamp_ms is None:
            timestamp_ms, self._next_ms = self._next_ms, self._next_ms + 1_001
        return make_ltx_bytes(
            min_txid,
            max_txid,
            timestamp_ms=timestamp_ms,
            page_size=page_size,
            pages=pages,
            seed=seed,
        )


@pytest.fixture
def ltx_factory() -> LTXFactory:
    """``ltx_factory(min_txid, max_txid, timestamp_ms=..., page_size=..., pages=...)``."""
    from litestream_core.testing.ltxgen import DEFAULT_TIMESTAMP_MS

    return LTXFactory(DEFAULT_TIMESTAMP_MS)


@pytest.fixture(scope="session")
def go_litestream(pytestconfig: pytest.Config) -> Path:
    """The real Go Litestream binary, the interop peer: ``LITESTREAM_GO_BIN``, else
    ``.peer/bin/litestream`` in or above the rootdir or the invocation directory.

    A missing peer fails the test rather than skipping it: interop is a requirement.
    """
    from litestream_core.testing.peer import INSTALL_HINT, find_go_litestream

    starts = (pytestconfig.rootpath, pytestconfig.invocation_params.dir)
    path = find_go_litestream(*starts)
    if path is None:
        pytest.fail(f"Go litestream binary not found; {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def go_litestream_03(pytestconfig: pytest.Config) -> Path:
    """Go Litestream 0.3.13, which wrote the ``generations/`` layout (tests of v0.3
    restores): ``LITESTREAM_GO03_BIN``, else ``.peer03/bin/litestream``. Missing is a
    failure, as for the 0.5 peer."""
    from litestream_core.testing.peer import (
        GO03_BIN_ENV,
        INSTALL03_HINT,
        PEER03_BINARY,
        find_go_litestream,
    )

    starts = (pytestconfig.rootpath, pytestconfig.invocation_params.dir)
    path = find_go_litestream(*starts, env=GO03_BIN_ENV, binary=PEER03_BINARY)
    if path is None:
        pytest.fail(f"Go litestream 0.3.13 binary not found; {INSTALL03_HINT}")
    return path


@pytest.fixture
def go_env() -> dict[str, str]:
    """The environment to run ``go_litestream`` in (AWS_CA_BUNDLE breaks its S3 client)."""
    from litestream_core.testing.peer import go_environment

    return go_environment()
