"""litestream-sftp against the shared conformance suite, on a private sshd."""

from __future__ import annotations

import pytest

from litestream_core.client import ReplicaURL
from litestream_core.plugins import make_replica_client
from litestream_core.testing import ReplicaClientSuite
from litestream_core.testing.suite._base import header_time, keys, listed, ltx


class TestSFTPConformance(ReplicaClientSuite):
    plugin_name = "sftp"
    schemes = ("sftp",)
    heavy_modules = ("paramiko", "litestream_sftp.client")

    @pytest.fixture
    async def replica_client(self, sshd, replica_prefix):
        url = ReplicaURL.parse(sshd.url(sshd.root / replica_prefix))
        async with make_replica_client(url, sshd.options()) as client:
            yield client

    async def test_list_fills_size_and_created_at(self, replica_client) -> None:
        """Replaces the suite's version: SFTP file times hold whole seconds only.

        As in Go, a plain listing gives the modification time, which is the header's
        timestamp cut to the second; a metadata listing gives it exactly.
        """
        files = {(2, 3): ltx(2, 3, pages=1), (4, 9): ltx(4, 9, pages=5)}
        for (lo, hi), data in files.items():
            await replica_client.write_ltx_file(0, lo, hi, data)
        for use_metadata in (False, True):
            infos = await listed(replica_client, 0, use_metadata=use_metadata)
            assert keys(infos) == [(0, 2, 3), (0, 4, 9)]
            for info in infos:
                data = files[(info.min_txid, info.max_txid)]
                assert info.size == len(data)
                exact = header_time(data)
                expected = exact if use_metadata else exact.replace(microsecond=0)
                assert info.created_at == expected
