"""Sealed files: encrypted replicas work on the backend without code of its own.

The core encrypts a replica by wrapping its client (``EncryptedReplicaClient``); the
backend then stores age files instead of LTX files. It must keep them byte for byte,
serve ranges of them, and take their time from the time stanza at their start, which it
does when it reads times through ``backend_support.timestamps`` instead of decoding the
LTX header itself.
"""

from __future__ import annotations

import random

from litestream_core.client import Capability, ReplicaClient
from litestream_core.encryption.client import EncryptedReplicaClient
from litestream_core.encryption.keys import AgeKeys, Identity
from litestream_core.encryption.layout import CHUNK_SIZE, INTRO, sealed_size
from litestream_core.testing.ltxgen import make_ltx_bytes
from litestream_core.testing.suite._base import SuiteBase, header_time, listed, ltx, read

_KEY = Identity.generate()
_KEYS = AgeKeys(recipients=(_KEY.recipient,), identities=(_KEY,))


class SealedFileTests(SuiteBase):
    async def test_sealed_files_round_trip_with_their_header_time(
        self, replica_client: ReplicaClient
    ) -> None:
        sealed = EncryptedReplicaClient(replica_client, _KEYS)
        noise = random.Random(7)
        pages = [(n, noise.randbytes(4096)) for n in range(1, 21)]  # two chunks, sealed
        files = {(1, 1): make_ltx_bytes(1, 1, pages=pages), (2, 3): ltx(2, 3, pages=1)}
        for (lo, hi), data in files.items():
            info = await sealed.write_ltx_file(0, lo, hi, data)
            assert (info.size, info.created_at) == (len(data), header_time(data))
        accurate = self.declares(replica_client, Capability.ACCURATE_METADATA_TIMESTAMPS)
        for info in await listed(sealed, 0, use_metadata=True):
            data = files[(info.min_txid, info.max_txid)]
            assert info.size == len(data)
            if accurate:
                assert info.created_at == header_time(data)
        for info in await listed(replica_client, 0):
            data = files[(info.min_txid, info.max_txid)]
            assert info.size == sealed_size(len(data)), "stored sealed files must keep their size"
            stored = await read(replica_client, 0, info.min_txid, info.max_txid)
            # 32 plain bytes from past the header: the small file is only a little past
            # 200 bytes, and a short slice turned up by chance in random ciphertext.
            assert stored.startswith(INTRO) and data[100:132] not in stored
        for (lo, hi), data in files.items():
            assert await read(sealed, 0, lo, hi) == data
            for offset, size in ((0, 100), (len(data) - 16, 16), (CHUNK_SIZE - 3, 9)):
                if offset < len(data):
                    want = data[offset : offset + size]
                    assert await read(sealed, 0, lo, hi, offset=offset, size=size) == want
