"""The file backend's temporary files: removed on every failure path (a failing or
cancelled source, a full disk whose close fails again) and swept at start when a
killed writer left them."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from litestream_file import client as file_client
from litestream_file.client import FileReplicaClient

from litestream_core.backend_support import tempfiles
from litestream_core.errors import ReplicaClientError
from litestream_core.testing import make_ltx_bytes

pytestmark = pytest.mark.anyio


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


async def chunks(data: bytes, *, fail_after: int | None = None, pause: float = 0):
    for i in range(0, len(data), 256):
        if fail_after is not None and i >= fail_after:
            raise RuntimeError("source failed")
        await asyncio.sleep(pause)
        yield data[i : i + 256]


async def test_a_failing_source_leaves_nothing(tmp_path):
    data = make_ltx_bytes(1, 1, pages=20)
    async with FileReplicaClient(tmp_path) as client:
        with pytest.raises(RuntimeError):
            await client.write_ltx_file(0, 1, 1, chunks(data, fail_after=1024))
    assert not temp_files(tmp_path)
    assert not list(tmp_path.rglob("*.ltx"))


async def test_a_cancelled_write_leaves_nothing(tmp_path):
    data = make_ltx_bytes(1, 1, pages=40)
    async with FileReplicaClient(tmp_path) as client:
        task = asyncio.ensure_future(client.write_ltx_file(0, 1, 1, chunks(data, pause=0.01)))
        while not temp_files(tmp_path):
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not temp_files(tmp_path)


async def test_disk_full_on_close_still_removes_the_file(tmp_path, monkeypatch):
    """The commit fails with ENOSPC and so does the close that follows (it flushes the
    same buffer again): the temporary file must go all the same."""

    def full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    class ClosesFull:
        def __init__(self, path):
            self._f = open(path, "wb")  # noqa: SIM115
            self.name = path

        def write(self, data):
            return self._f.write(data)

        def close(self):
            self._f.close()
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_client, "_commit", full)
    monkeypatch.setattr(
        file_client,
        "_create_temp",
        lambda path: (path.parent.mkdir(parents=True, exist_ok=True), ClosesFull(path))[1],
    )
    async with FileReplicaClient(tmp_path) as client:
        with pytest.raises(ReplicaClientError) as info:
            await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
    assert "disk is full" in info.value.one_line()
    assert not temp_files(tmp_path)


async def test_abandoned_temp_files_are_swept(tmp_path):
    level = tmp_path / "ltx" / "0"
    level.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    name = "0000000000000001-0000000000000001.ltx"
    dead = level / f".{name}.{tempfiles._HOST}~{proc.pid}.0a0b0c.tmp"
    mine = level / tempfiles.temp_name(name)  # this process may be writing it
    old_go = level / f"{name}.tmp"
    fresh_go = level / "0000000000000002-0000000000000002.ltx.tmp"
    unrelated = level / "notes.tmp"
    for path in (dead, mine, old_go, fresh_go, unrelated):
        path.write_bytes(b"x")
    hour_ago = time.time() - 3600
    os.utime(old_go, (hour_ago, hour_ago))
    os.utime(unrelated, (hour_ago, hour_ago))
    async with FileReplicaClient(tmp_path) as client:
        assert await client.remove_stale_temp_files() == 2
        assert await FileReplicaClient(tmp_path / "missing").remove_stale_temp_files() == 0
    assert sorted(p.name for p in level.iterdir()) == sorted(
        p.name for p in (mine, fresh_go, unrelated)
    )
