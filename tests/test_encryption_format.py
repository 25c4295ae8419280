"""The age layout of encrypted replicas: plain age files (the `age` tool opens them,
we open its files), a fixed header so LTX byte ranges map to stored chunks, and the
wrapping client's reads, writes, rotation and failures over an in-memory replica."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litestream_core.client import AsyncByteStream, LTXFileInfo, ReplicaClient, SupportsTempCleanup
from litestream_core.encryption.age import (
    PayloadCipher,
    parse_header,
    seal_header,
    unwrap_file_key,
)
from litestream_core.encryption.client import EncryptedReplicaClient
from litestream_core.encryption.keys import AgeKeys, Identity
from litestream_core.encryption.layout import (
    CHUNK_SIZE,
    HEADER_SIZE,
    MAX_RECIPIENTS,
    PAYLOAD_OFFSET,
    SEALED_CHUNK_SIZE,
    plain_size,
    sealed_size,
    sealed_timestamp,
)
from litestream_core.errors import DamagedCiphertextError, EncryptionError, LTXFormatError
from litestream_core.ltx import decode_file
from litestream_core.ltx.header import HEADER_SIZE as LTX_HEADER_SIZE
from litestream_core.ltx.header import Header
from litestream_core.testing.ltxgen import make_ltx_bytes
from litestream_core.testing.memory import MemoryReplicaClient, MemoryStore

AGE = "/usr/bin/age"


def seal(data: bytes, recipients, timestamp: int = 1_700_000_000_123) -> bytes:
    head, cipher = seal_header(recipients, timestamp)
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
    last = len(chunks) - 1
    return head + b"".join(cipher.seal(i, c, last=i == last) for i, c in enumerate(chunks))


def open_any_age_file(data: bytes, identities) -> bytes:
    """Whole-file decryption of any age file, whatever its header's length."""
    header = parse_header(data)
    file_key = unwrap_file_key(header, identities)
    assert file_key is not None
    cipher = PayloadCipher(file_key, data[header.size : header.size + 16])
    payload = data[header.size + 16 :]
    chunks = [payload[i : i + SEALED_CHUNK_SIZE] for i in range(0, len(payload), SEALED_CHUNK_SIZE)]
    return b"".join(cipher.open(i, c, last=i == len(chunks) - 1)[0] for i, c in enumerate(chunks))


def key_file(tmp_path: Path, identity: Identity, name: str = "key.txt") -> Path:
    path = tmp_path / name
    path.write_text(f"# created by a test\n{identity.secret_text()}\n")
    return path


# -- the format, against the age tool ---------------------------------------------------


@pytest.mark.parametrize("size", [1, 100, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 200_000])
def test_age_decrypts_our_files_with_any_recipient_identity(tmp_path, size):
    ids = [Identity.generate() for _ in range(3)]
    data = os.urandom(size)
    sealed = seal(data, [i.recipient for i in ids])
    assert len(sealed) == sealed_size(size) and plain_size(len(sealed)) == size
    (tmp_path / "f.age").write_bytes(sealed)
    for n, identity in enumerate(ids):
        proc = subprocess.run(
            [AGE, "-d", "-i", str(key_file(tmp_path, identity, f"k{n}")), str(tmp_path / "f.age")],
            capture_output=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == data


def test_we_decrypt_files_the_age_tool_wrote_with_its_keys(tmp_path):
    keygen = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True)
    secret = next(line for line in keygen.stdout.splitlines() if line.startswith("AGE-SECRET"))
    public = keygen.stderr.split("Public key: ")[1].strip()
    identity = Identity.parse(secret)
    assert identity is not None and str(identity.recipient) == public
    assert identity.secret_text() == secret
    data = os.urandom(3 * CHUNK_SIZE + 17)
    made = subprocess.run([AGE, "-r", public], input=data, capture_output=True, check=True)
    assert open_any_age_file(made.stdout, [identity]) == data
    assert open_any_age_file(made.stdout, [Identity.generate(), identity]) == data
    assert unwrap_file_key(parse_header(made.stdout), [Identity.generate()]) is None


def test_age_refuses_our_file_for_a_stranger_and_an_altered_file(tmp_path):
    mine, stranger = Identity.generate(), Identity.generate()
    sealed = bytearray(seal(b"x" * 1000, [mine.recipient]))
    (tmp_path / "f.age").write_bytes(sealed)
    proc = subprocess.run(
        [AGE, "-d", "-i", str(key_file(tmp_path, stranger)), str(tmp_path / "f.age")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "no identity matched" in proc.stderr
    sealed[PAYLOAD_OFFSET + 5] ^= 1
    (tmp_path / "g.age").write_bytes(sealed)
    proc = subprocess.run(
        [AGE, "-d", "-i", str(key_file(tmp_path, mine, "m")), str(tmp_path / "g.age")],
        capture_output=True,
    )
    assert proc.returncode != 0


def test_header_is_fixed_size_for_every_recipient_count_and_carries_the_time():
    for count in range(1, MAX_RECIPIENTS + 1):
        recipients = [Identity.generate().recipient for _ in range(count)]
        for timestamp in (0, 7, 1_700_000_000_123, 10**13 - 1):
            head, _ = seal_header(recipients, timestamp)
            assert len(head) == PAYLOAD_OFFSET
            assert parse_header(head).size == HEADER_SIZE
            assert sealed_timestamp(head[:LTX_HEADER_SIZE]) == timestamp
    too_many = [Identity.generate().recipient for _ in range(MAX_RECIPIENTS + 1)]
    with pytest.raises(EncryptionError, match=f"at most {MAX_RECIPIENTS}"):
        seal_header(too_many, 1_700_000_000_123)


@given(st.integers(min_value=1, max_value=50 * CHUNK_SIZE))
def test_listing_sizes_map_both_ways(size):
    assert plain_size(sealed_size(size)) == size


# -- the wrapping client ------------------------------------------------------------


class Choppy(ReplicaClient):
    """A replica whose reads return a few bytes at a time, counting opens."""

    type = "memory"

    def __init__(self, store: MemoryStore) -> None:
        self.inner = MemoryReplicaClient(store)
        self.opens: list[tuple[int, int]] = []

    async def init(self):
        await self.inner.init()

    async def close(self):
        await self.inner.close()

    def ltx_files(self, level, *, seek=0, use_metadata=False):
        return self.inner.ltx_files(level, seek=seek, use_metadata=use_metadata)

    async def open_ltx_file(self, level, min_txid, max_txid, *, offset=0, size=0):
        self.opens.append((offset, size))
        stream = await self.inner.open_ltx_file(level, min_txid, max_txid, offset=offset, size=size)
        return _Trickle(stream)

    async def write_ltx_file(self, level, min_txid, max_txid, data):
        return await self.inner.write_ltx_file(level, min_txid, max_txid, data)

    async def delete_ltx_files(self, files):
        await self.inner.delete_ltx_files(files)

    async def delete_all(self):
        await self.inner.delete_all()


class _Trickle(AsyncByteStream):
    def __init__(self, stream: AsyncByteStream) -> None:
        self.stream = stream

    async def read(self, n: int = -1) -> bytes:
        return await self.stream.read(min(n, 997) if n >= 0 else 997)

    async def aclose(self) -> None:
        await self.stream.aclose()


def ltx(min_txid: int, max_txid: int, pages: int = 40, seed: int = 0) -> bytes:
    return make_ltx_bytes(min_txid, max_txid, pages=pages, seed=seed, no_checksum=True)


def blob(size: int, seed: int = 0) -> bytes:
    """A valid LTX header, then incompressible bytes: the layer seals any LTX file."""
    head = ltx(1, 1, pages=1, seed=seed)[:LTX_HEADER_SIZE]
    return head + random.Random(seed).randbytes(size - len(head))


async def sealed_client(store: MemoryStore, keys: AgeKeys) -> tuple[EncryptedReplicaClient, Choppy]:
    """An initialised sealing client over ``store``, and the client it wraps."""
    inner = Choppy(store)
    client = EncryptedReplicaClient(inner, keys)
    await client.init()
    return client, inner


async def read(client: ReplicaClient, txids=(1, 1), level=0, offset=0, size=0) -> bytes:
    stream = await client.open_ltx_file(level, *txids, offset=offset, size=size)
    async with stream:
        return await stream.readall()


def run(coro):
    return asyncio.run(coro)


ME = Identity.generate()
KEYS = AgeKeys(recipients=(ME.recipient,), identities=(ME,))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    size=st.integers(min_value=LTX_HEADER_SIZE, max_value=5 * CHUNK_SIZE),
    ranges=st.lists(
        st.tuples(st.integers(min_value=0, max_value=260_000), st.integers(0, 140_000)),
        min_size=1,
        max_size=6,
    ),
    cold=st.booleans(),
)
def test_range_reads_return_the_ltx_bytes_of_any_range(size, ranges, cold):
    data = blob(size, seed=size)

    async def main():
        store = MemoryStore()
        writer, _ = await sealed_client(store, KEYS)
        await writer.write_ltx_file(0, 1, 1, data)
        reader = writer if not cold else (await sealed_client(store, KEYS))[0]
        for offset, size in ranges:
            offset = min(offset, len(data) - 1)
            got = await read(reader, offset=offset, size=size)
            assert got == data[offset : offset + size if size else None], (offset, size)

    run(main())


def test_listing_reports_ltx_sizes_and_times_while_storage_holds_age_files():
    async def main():
        store = MemoryStore()
        client, inner = await sealed_client(store, KEYS)
        files = {(1, 1): ltx(1, 1, pages=50), (2, 2): ltx(2, 2, pages=2, seed=3)}
        for (a, b), data in files.items():
            info = await client.write_ltx_file(0, a, b, data)
            assert info.size == len(data)
        listed = [i async for i in client.ltx_files(0, use_metadata=True)]
        sizes = [len(files[1, 1]), len(files[2, 2])]
        assert [(i.min_txid, i.size) for i in listed] == [(1, sizes[0]), (2, sizes[1])]
        raw = [i async for i in inner.ltx_files(0)]
        assert [i.size for i in raw] == [sealed_size(n) for n in sizes]
        assert [i.created_at for i in raw] == [i.created_at for i in listed]
        for (a, b), data in files.items():
            stored = store.files[(0, a, b)].data
            assert stored.startswith(b"age-encryption.org/v1\n")
            assert data[LTX_HEADER_SIZE:200] not in stored
            assert await read(client, (a, b)) == data
        decode_file(await read(client, (1, 1)))

    run(main())


def test_a_range_read_after_the_first_is_one_storage_request():
    data = blob(5 * CHUNK_SIZE)

    async def main():
        client, inner = await sealed_client(MemoryStore(), KEYS)
        await client.write_ltx_file(0, 1, 1, data)
        cold, cold_inner = await sealed_client(inner.inner.store, KEYS)
        deep = 3 * CHUNK_SIZE + 10
        assert await read(cold, offset=deep, size=100) == data[deep : deep + 100]
        assert len(cold_inner.opens) == 2  # the header, then the chunk
        cold_inner.opens.clear()
        assert await read(cold, offset=10, size=50_000) == data[10:50_010]
        assert await read(cold, offset=len(data) - 16, size=16) == data[-16:]
        assert cold_inner.opens == [
            (PAYLOAD_OFFSET, SEALED_CHUNK_SIZE),
            (PAYLOAD_OFFSET + 4 * SEALED_CHUNK_SIZE, SEALED_CHUNK_SIZE),
        ]

    run(main())


def test_streamed_writes_of_large_files_and_exact_chunk_multiples():
    async def chunks(data: bytes, step: int):
        for i in range(0, len(data), step):
            yield data[i : i + step]

    async def main():
        client, _ = await sealed_client(MemoryStore(), KEYS)
        big = blob(3 * CHUNK_SIZE + 999)
        exact = blob(2 * CHUNK_SIZE, seed=6)
        for (a, b), data in (((1, 5), big), ((6, 6), exact)):
            info = await client.write_ltx_file(0, a, b, chunks(data, 12_345))
            assert info.size == len(data)
            assert await read(client, (a, b)) == data
            assert await read(client, (a, b), offset=len(data) - 5, size=5) == data[-5:]

    run(main())


def test_rotation_new_files_use_new_recipients_and_old_files_need_old_identities():
    old, new = Identity.generate(), Identity.generate()

    async def main():
        store = MemoryStore()
        before, _ = await sealed_client(store, AgeKeys((old.recipient,), (old,)))
        await before.write_ltx_file(0, 1, 1, ltx(1, 1))
        after, _ = await sealed_client(store, AgeKeys((new.recipient,), (old, new)))
        await after.write_ltx_file(0, 2, 2, ltx(2, 2, seed=2))
        assert await read(after, (1, 1)) == ltx(1, 1)
        assert await read(after, (2, 2)) == ltx(2, 2, seed=2)
        only_new, _ = await sealed_client(store, AgeKeys((), (new,)))
        assert await read(only_new, (2, 2)) == ltx(2, 2, seed=2)
        with pytest.raises(EncryptionError) as info:
            await read(only_new, (1, 1))
        message = info.value.one_line()
        assert "no configured age identity opens replica file" in message
        assert "0000000000000001-0000000000000001.ltx at level 0" in message
        assert old.secret_text() not in message and new.secret_text() not in message

    run(main())


def test_without_identities_or_recipients_or_on_a_plain_file_the_error_says_so():
    async def main():
        store = MemoryStore()
        client, _ = await sealed_client(store, KEYS)
        await client.write_ltx_file(0, 1, 1, ltx(1, 1))
        write_only, _ = await sealed_client(store, AgeKeys((ME.recipient,), ()))
        with pytest.raises(EncryptionError, match="no age identity to open it"):
            await read(write_only)
        read_only, _ = await sealed_client(store, AgeKeys((), (ME,)))
        with pytest.raises(EncryptionError, match="no recipients"):
            await read_only.write_ltx_file(0, 2, 2, ltx(2, 2))
        plain = MemoryReplicaClient(store)
        await plain.init()
        await plain.write_ltx_file(0, 3, 3, ltx(3, 3))
        with pytest.raises(EncryptionError, match="is not encrypted"):
            await read(client, (3, 3))
        with pytest.raises(LTXFormatError) as info:
            Header.decode(await read(plain, (1, 1)))
        assert "encrypted with age" in info.value.one_line()
        with pytest.raises(LTXFormatError):
            await client.write_ltx_file(0, 4, 4, b"not an LTX file" * 10)

    run(main())


def test_altered_or_truncated_ciphertext_is_damage_never_garbage():
    data = blob(4 * CHUNK_SIZE)

    async def main():
        store = MemoryStore()
        client, _ = await sealed_client(store, KEYS)
        await client.write_ltx_file(0, 1, 1, data)
        good = store.files[(0, 1, 1)]
        for where in (PAYLOAD_OFFSET + 2 * SEALED_CHUNK_SIZE + 7, len(good.data) - 1, 300):
            bad = bytearray(good.data)
            bad[where] ^= 0x40
            store.files[(0, 1, 1)] = type(good)(bytes(bad), good.info)
            fresh, _ = await sealed_client(store, KEYS)
            with pytest.raises(DamagedCiphertextError):
                await read(fresh)
        cut = good.data[: PAYLOAD_OFFSET + 2 * SEALED_CHUNK_SIZE]
        store.files[(0, 1, 1)] = type(good)(cut, good.info)
        fresh, _ = await sealed_client(store, KEYS)
        with pytest.raises(DamagedCiphertextError):
            await read(fresh)

    run(main())


def test_a_replaced_file_is_read_with_its_new_key_not_a_remembered_one():
    async def main():
        store = MemoryStore()
        reader, _ = await sealed_client(store, KEYS)
        other, _ = await sealed_client(store, KEYS)
        first, second = blob(2 * CHUNK_SIZE), blob(2 * CHUNK_SIZE, seed=9)
        await other.write_ltx_file(0, 1, 1, first)
        assert await read(reader, offset=CHUNK_SIZE, size=10) == first[CHUNK_SIZE:][:10]
        await other.delete_all()
        await other.write_ltx_file(0, 1, 1, second)
        assert await read(reader, offset=CHUNK_SIZE, size=10) == second[CHUNK_SIZE:][:10]

    run(main())


def test_deletes_pass_through():
    async def main():
        store = MemoryStore()
        client, _ = await sealed_client(store, KEYS)
        await client.write_ltx_file(0, 1, 1, ltx(1, 1))
        await client.delete_ltx_files([LTXFileInfo(0, 1, 1, 0, None)])  # type: ignore[arg-type]
        assert store.files == {}

    run(main())


def test_temp_file_sweeps_reach_the_backend():
    class Sweeping(Choppy):
        async def remove_stale_temp_files(self) -> int:
            return 3

    async def main():
        sweeping = EncryptedReplicaClient(Sweeping(MemoryStore()), KEYS)
        assert isinstance(sweeping, SupportsTempCleanup)
        assert await sweeping.remove_stale_temp_files() == 3
        assert (
            await EncryptedReplicaClient(Choppy(MemoryStore()), KEYS).remove_stale_temp_files() == 0
        )

    run(main())


def test_a_backend_that_decodes_ltx_headers_itself_is_named():
    class Old(Choppy):
        type = "legacy-plugin"

        async def write_ltx_file(self, level, min_txid, max_txid, data):
            Header.decode(data[:100])
            return await super().write_ltx_file(level, min_txid, max_txid, data)

    async def main():
        client = EncryptedReplicaClient(Old(MemoryStore()), KEYS)
        await client.init()
        with pytest.raises(EncryptionError) as info:
            await client.write_ltx_file(0, 1, 1, ltx(1, 1))
        assert "the legacy-plugin backend cannot store encrypted files" in info.value.one_line()

    run(main())


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 5])
def test_any_age_file_streams_whole_from_its_start(size):
    """Files the age tool writes (as Go Litestream 0.3 did): any header size, grease."""
    from litestream_core.client import BytesStream
    from litestream_core.encryption.client import open_age_stream

    mine = Identity.generate()
    data = os.urandom(size)
    made = subprocess.run(
        [AGE, "-r", str(mine.recipient)], input=data, capture_output=True, check=True
    ).stdout

    async def plaintext(stored: bytes, identities) -> bytes:
        stream = await open_age_stream(_Trickle(BytesStream(stored)), identities, "f.age")
        async with stream:
            return await stream.readall()

    assert run(plaintext(made, [Identity.generate(), mine])) == data
    with pytest.raises(EncryptionError, match=r"no configured age identity opens f\.age"):
        run(plaintext(made, [Identity.generate()]))
    with pytest.raises(EncryptionError, match=r"f\.age is not encrypted"):
        run(plaintext(ltx(1, 1), [mine]))
    with pytest.raises(DamagedCiphertextError, match="age header truncated"):
        run(plaintext(made[:40], [mine]))
    with pytest.raises(DamagedCiphertextError):
        run(plaintext(made[:-1], [mine]))


def test_the_lease_objects_of_an_encrypted_replica_are_sealed_and_created_atomically():
    from litestream_core.encryption.layout import is_sealed
    from litestream_core.engine.identity import json_ltx, json_of_ltx, read_small
    from litestream_core.engine.lease import supports_lease
    from litestream_core.errors import ObjectExistsError

    async def main():
        store = MemoryStore()
        client = EncryptedReplicaClient(MemoryReplicaClient(store), KEYS)
        await client.init()
        assert supports_lease(client)
        body = {"host": "db-1.example", "pid": 4242}
        await client.create_exclusive(11, 1, 1, json_ltx(body, 1, 1_700_000_000_000))
        with pytest.raises(ObjectExistsError):
            await client.create_exclusive(11, 1, 1, json_ltx({"host": "other"}, 1, 1))
        stored = store.files[(11, 1, 1)].data
        assert is_sealed(stored) and b"db-1.example" not in stored
        cold, _ = await sealed_client(store, KEYS)  # a reader that did not write it
        assert json_of_ltx(await read_small(cold, 11, 1)) == body

    run(main())
