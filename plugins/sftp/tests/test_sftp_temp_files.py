"""The SFTP backend's temporary files: none left by a failed upload, and those a killed
writer left are swept at start (the server's directory is local, so the test sees it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from litestream_sftp.plugin import make_client

from litestream_core.backend_support import tempfiles
from litestream_core.client import ReplicaURL
from litestream_core.testing import make_ltx_bytes

pytestmark = pytest.mark.anyio


async def failing(data: bytes):
    yield data[:200]
    raise RuntimeError("source failed")


async def test_failed_upload_leaves_nothing_and_killed_writers_files_are_swept(sshd):
    root = sshd.root / "temp-files"
    level = root / "ltx" / "0"
    name = "0000000000000001-0000000000000001.ltx"
    async with make_client(ReplicaURL.parse(sshd.url(root)), sshd.options()) as client:
        with pytest.raises(RuntimeError):
            await client.write_ltx_file(0, 1, 1, failing(make_ltx_bytes(1, 1, pages=30)))
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert sorted(p.name for p in level.iterdir()) == [name]

        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        dead = level / f".{name}.{tempfiles._HOST}~{proc.pid}.0a0b0c.tmp"
        old_go = level / f"{name}.tmp"
        fresh = level / f".{name}.elsewhere~1.0a0b0c.tmp"
        for path in (dead, old_go, fresh):
            path.write_bytes(b"x")
        hour_ago = time.time() - 3600
        os.utime(old_go, (hour_ago, hour_ago))
        assert await client.remove_stale_temp_files() == 2
    assert sorted(p.name for p in level.iterdir()) == sorted([name, fresh.name])
