"""The VFS and follow mode over NATS JetStream: range reads, time travel, pinned snapshots."""

from __future__ import annotations

import asyncio

import pytest

from litestream_core.testing.read_checks import check_follow, check_vfs, make_history

pytestmark = pytest.mark.anyio


async def test_vfs_reads_a_nats_replica(nats_server, bucket, tmp_path):
    url = f"{nats_server.url}/{bucket}"
    history = await asyncio.to_thread(make_history, tmp_path, [f"url: {url}"], None)
    await asyncio.to_thread(check_vfs, url, {}, history)
    await asyncio.to_thread(check_follow, history, tmp_path)
