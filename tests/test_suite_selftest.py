"""The conformance suite checks what it claims to check.

It must pass against the in-memory reference client, and each deliberately broken
client must fail exactly the tests about the promise it breaks; otherwise a change to
the suite could silently stop checking something.
"""

from __future__ import annotations

import textwrap

import pytest

from litestream_core.client import Capability
from litestream_core.errors import ReplicaClientError
from litestream_core.ltx import decode_file
from litestream_core.testing import (
    MemoryReplicaClient,
    MemoryStore,
    ReplicaClientSuite,
    make_ltx_bytes,
)

pytest_plugins = ["pytester"]


class TestMemoryConformance(ReplicaClientSuite):
    @pytest.fixture
    async def replica_client(self):
        client = MemoryReplicaClient()
        await client.init()
        yield client
        await client.close()


class _StorageTimeClient(MemoryReplicaClient):
    """Lists the upload time, not the header's, and says so by not claiming accuracy."""

    capabilities = frozenset({Capability.RANGE_READS})

    async def ltx_files(self, level, *, seek=0, use_metadata=False):
        from dataclasses import replace
        from datetime import UTC, datetime

        async for info in super().ltx_files(level, seek=seek, use_metadata=use_metadata):
            yield replace(info, created_at=datetime.now(UTC))


class TestStorageTimeConformance(ReplicaClientSuite):
    """Capabilities are honoured: a backend without accurate timestamps is not failed."""

    @pytest.fixture
    async def replica_client(self):
        client = _StorageTimeClient(MemoryStore())
        await client.init()
        yield client
        await client.close()


_HEADER = """
import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from litestream_core.client import BytesStream
from litestream_core.ltx.header import Header
from litestream_core.testing import MemoryReplicaClient, ReplicaClientSuite


class TestBroken(ReplicaClientSuite):
    @pytest.fixture
    async def replica_client(self):
        client = Broken()
        await client.init()
        yield client
        await client.close()

"""

BROKEN_CLIENTS = {
    "unsorted_listing": (
        """
        class Broken(MemoryReplicaClient):
            async def ltx_files(self, level, *, seek=0, use_metadata=False):
                for (lvl, lo, _), stored in list(self.store.files.items()):
                    if lvl == level and lo >= seek:
                        yield stored.info
        """,
        {"test_list_is_ascending_when_written_out_of_order"},
    ),
    "key_error_for_missing_file": (
        """
        class Broken(MemoryReplicaClient):
            async def open_ltx_file(self, level, min_txid, max_txid, **kw):
                if (level, min_txid, max_txid) not in self.store.files:
                    raise KeyError((level, min_txid, max_txid))
                return await super().open_ltx_file(level, min_txid, max_txid, **kw)
        """,
        {
            "test_read_missing_file_raises_not_found",
            "test_deleted_files_vanish",
            "test_delete_all_removes_every_level",
            "test_failed_write_leaves_nothing",
            "test_cancelled_write_leaves_nothing",
            "test_large_write_cancelled_at_any_point_leaves_nothing",
            "test_write_rejects_data_without_ltx_header",
            "test_replica_identity_is_kept_apart_from_the_levels",  # a new replica has none
        },
    ),
    "non_atomic_write": (
        """
        class Broken(MemoryReplicaClient):
            async def write_ltx_file(self, level, min_txid, max_txid, data):
                if isinstance(data, bytes):
                    return await super().write_ltx_file(level, min_txid, max_txid, data)
                written = b""
                async for chunk in data:  # stores each prefix as it arrives
                    written += chunk
                    if len(written) >= 100:
                        info = await super().write_ltx_file(level, min_txid, max_txid, written)
                return info
        """,
        {
            "test_failed_write_leaves_nothing",
            "test_failed_rewrite_keeps_previous_file",
            "test_cancelled_write_leaves_nothing",
            "test_large_write_cancelled_at_any_point_leaves_nothing",
        },
    ),
    "timestamp_not_kept": (
        """
        class Broken(MemoryReplicaClient):
            async def write_ltx_file(self, level, min_txid, max_txid, data):
                info = await super().write_ltx_file(level, min_txid, max_txid, data)
                key = (level, min_txid, max_txid)
                stored = self.store.files[key]
                now = dataclasses.replace(info, created_at=datetime.now(UTC))
                self.store.files[key] = dataclasses.replace(stored, info=now)
                return info
        """,
        {
            "test_list_fills_size_and_created_at",
            "test_write_returns_info_matching_listing",
            "test_write_keeps_header_timestamp_in_metadata_listing",
            "test_rewrite_replaces_file",
            "test_sealed_files_round_trip_with_their_header_time",
        },
    ),
    "ltx_header_decoded_by_hand": (
        # Refuses anything but LTX bytes, so encrypted replicas could not use it.
        """
        class Broken(MemoryReplicaClient):
            async def write_ltx_file(self, level, min_txid, max_txid, data):
                if isinstance(data, bytes):
                    Header.decode(data[:100])
                return await super().write_ltx_file(level, min_txid, max_txid, data)
        """,
        {"test_sealed_files_round_trip_with_their_header_time"},
    ),
    "seek_ignored": (
        """
        class Broken(MemoryReplicaClient):
            def ltx_files(self, level, *, seek=0, use_metadata=False):
                return super().ltx_files(level, use_metadata=use_metadata)
        """,
        {
            "test_list_seek_starts_at_given_or_next_txid",
            "test_listings_follow_many_writes_across_levels",
        },
    ),
    "truncated_stream": (
        # Reads stop after the first 64 KiB, as when only the first network chunk is
        # returned: every small file fits, so only the large-file tests can see it.
        """
        class Broken(MemoryReplicaClient):
            async def open_ltx_file(self, level, min_txid, max_txid, **kw):
                stream = await super().open_ltx_file(level, min_txid, max_txid, **kw)
                return BytesStream(await stream.read(65536))
        """,
        {
            "test_large_file_streams_through_and_reads_ranges_deep_inside",
            "test_large_file_read_after_rewrite",
            "test_sealed_files_round_trip_with_their_header_time",
        },
    ),
    "stale_listing": (
        # Each level's first listing is remembered and served again.
        """
        class Broken(MemoryReplicaClient):
            cache = None

            async def ltx_files(self, level, *, seek=0, use_metadata=False):
                if self.cache is None:
                    self.cache = {}
                if level not in self.cache:
                    self.cache[level] = [i async for i in super().ltx_files(level)]
                for info in self.cache[level]:
                    if info.min_txid >= seek:
                        yield info
        """,
        {
            "test_listings_follow_many_writes_across_levels",
            "test_repeated_concurrent_rounds",
            "test_parallel_writes_lists_and_reads",
        },
    ),
    "non_atomic_large_write": (
        # Small files are stored whole, large streamed ones part by part as they arrive
        # (a multipart upload whose parts are visible): only a large cancelled write shows it.
        """
        class Broken(MemoryReplicaClient):
            async def write_ltx_file(self, level, min_txid, max_txid, data):
                if isinstance(data, bytes):
                    return await super().write_ltx_file(level, min_txid, max_txid, data)
                written = b""
                async for chunk in data:
                    written += chunk
                    if len(written) >= 1 << 20:
                        info = await super().write_ltx_file(level, min_txid, max_txid, written)
                if len(written) < 1 << 20:
                    info = await super().write_ltx_file(level, min_txid, max_txid, written)
                return info
        """,
        {"test_large_write_cancelled_at_any_point_leaves_nothing"},
    ),
    "timestamp_cut_to_seconds": (
        # Metadata listings lose the header time's milliseconds (a second-resolution
        # mtime, say) while the client claims accurate metadata timestamps.
        """
        class Broken(MemoryReplicaClient):
            async def ltx_files(self, level, *, seek=0, use_metadata=False):
                async for info in super().ltx_files(level, seek=seek, use_metadata=use_metadata):
                    cut = info.created_at.replace(microsecond=0)
                    yield dataclasses.replace(info, created_at=cut)
        """,
        {
            "test_write_returns_info_matching_listing",
            "test_write_keeps_header_timestamp_in_metadata_listing",
            "test_list_fills_size_and_created_at",
            "test_sealed_files_round_trip_with_their_header_time",
        },
    ),
    "ranged_read_ignores_offset": (
        """
        class Broken(MemoryReplicaClient):
            async def open_ltx_file(self, level, min_txid, max_txid, *, offset=0, size=0):
                return await super().open_ltx_file(level, min_txid, max_txid, size=size)
        """,
        {
            "test_read_from_offset",
            "test_read_offset_and_size",
            "test_read_range_past_end_is_truncated",
            "test_read_after_rewrite_returns_new_file",
            "test_large_file_streams_through_and_reads_ranges_deep_inside",
            "test_large_file_read_after_rewrite",
            "test_sealed_files_round_trip_with_their_header_time",
        },
    ),
    "ranged_read_ignores_deep_offset": (
        # The offset is honoured only inside the first 64 KiB (a seek within the first
        # buffer): small files never show it.
        """
        class Broken(MemoryReplicaClient):
            async def open_ltx_file(self, level, min_txid, max_txid, *, offset=0, size=0):
                if offset >= 65536:
                    offset = 0
                return await super().open_ltx_file(
                    level, min_txid, max_txid, offset=offset, size=size
                )
        """,
        {
            "test_large_file_streams_through_and_reads_ranges_deep_inside",
            "test_large_file_read_after_rewrite",
            "test_sealed_files_round_trip_with_their_header_time",
        },
    ),
    "stale_read_cache": (
        # What was read once is served again, even after the file is rewritten.
        """
        class Broken(MemoryReplicaClient):
            cache = None

            async def open_ltx_file(self, level, min_txid, max_txid, *, offset=0, size=0):
                if self.cache is None:
                    self.cache = {}
                key = (level, min_txid, max_txid)
                if key not in self.cache:
                    stream = await super().open_ltx_file(level, min_txid, max_txid)
                    self.cache[key] = await stream.readall()
                data = self.cache[key]
                return BytesStream(data[offset : offset + size] if size else data[offset:])
        """,
        {
            "test_read_after_rewrite_returns_new_file",
            "test_large_file_read_after_rewrite",
            "test_repeated_concurrent_rounds",
            "test_replica_identity_is_kept_apart_from_the_levels",  # the identity is rewritten
        },
    ),
    "concurrent_writes_share_a_buffer": (
        # Uploads collect chunks in one buffer per client: writes at once mix their bytes.
        """
        class Broken(MemoryReplicaClient):
            async def write_ltx_file(self, level, min_txid, max_txid, data):
                if isinstance(data, bytes):
                    return await super().write_ltx_file(level, min_txid, max_txid, data)
                self.buffer = b""
                async for chunk in data:
                    self.buffer += chunk
                    await asyncio.sleep(0)
                return await super().write_ltx_file(level, min_txid, max_txid, self.buffer)
        """,
        {
            "test_parallel_writes_lists_and_reads",
            "test_repeated_concurrent_rounds",
        },
    ),
    "delete_missing_raises": (
        """
        class Broken(MemoryReplicaClient):
            async def delete_ltx_files(self, files):
                for info in files:
                    del self.store.files[(info.level, info.min_txid, info.max_txid)]
        """,
        {"test_delete_missing_files_is_noop"},
    ),
}


def _failures(reprec) -> set[str]:
    reports = reprec.getreports("pytest_runtest_logreport")
    assert not [r.nodeid for r in reports if r.failed and r.when != "call"], "setup errors"
    return {r.nodeid.split("::")[-1] for r in reports if r.failed}


@pytest.mark.parametrize("name", sorted(BROKEN_CLIENTS))
def test_broken_client_fails_the_right_tests(pytester, name):
    broken, expected = BROKEN_CLIENTS[name]
    pytester.makepyfile(test_broken=_HEADER + textwrap.dedent(broken))
    reprec = pytester.inline_run("-p", "no:cacheprovider")
    passed, _, _ = reprec.listoutcomes()
    assert passed, "nothing passed: the broken client is broken in more ways than intended"
    failed = _failures(reprec)
    assert failed == expected, f"missed: {expected - failed}, extra: {failed - expected}"


_PLUGIN_FILES = {
    "fakesdk.py": "LOADED = True\n",
    "heavyplugin.py": """
        import fakesdk  # the mistake: an SDK imported when the plugin is loaded
        from litestream_core.hookspecs import hookimpl

        @hookimpl
        def litestream_register_replica_clients(register):
            register("heavy", lambda url, options: fakesdk, description="eager")
    """,
    "lightplugin.py": """
        from litestream_core.hookspecs import hookimpl

        def _factory(url, options):
            import fakesdk
            return fakesdk

        @hookimpl
        def litestream_register_replica_clients(register):
            register("light", _factory, description="lazy")
    """,
    "fakeplugins-0.1.dist-info/METADATA": (
        "Metadata-Version: 2.1\nName: fakeplugins\nVersion: 0.1\n"
    ),
    "fakeplugins-0.1.dist-info/entry_points.txt": (
        "[litestream.plugins]\nheavy = heavyplugin\nlight = lightplugin\n"
    ),
}

_PLUGIN_TESTS = """
from litestream_core.testing import ReplicaClientSuite


class TestPlugin(ReplicaClientSuite):
    plugin_name = "{name}"
    schemes = ("{name}",)
    heavy_modules = ("fakesdk",)
"""


@pytest.mark.parametrize(
    ("name", "expected"), [("heavy", {"test_plugin_import_is_light"}), ("light", set())]
)
def test_plugin_contract_catches_eager_sdk_import(pytester, name, expected):
    for path, text in _PLUGIN_FILES.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    pytester.syspathinsert()
    pytester.makepyfile(test_plugin=_PLUGIN_TESTS.format(name=name))
    only = "import_is_light or registers_declared or hookimpls_match or entry_point_exists"
    reprec = pytester.inline_run("-p", "no:cacheprovider", "-k", only)
    passed, skipped, _ = reprec.listoutcomes()
    assert len(passed) + len(_failures(reprec)) == 4
    assert not skipped
    assert _failures(reprec) == expected


@pytest.mark.parametrize("no_checksum", [False, True])
@pytest.mark.parametrize(("min_txid", "max_txid"), [(1, 1), (1, 9), (5, 8)])
def test_ltxgen_makes_files_the_codec_verifies(min_txid, max_txid, no_checksum):
    data = make_ltx_bytes(
        min_txid, max_txid, timestamp_ms=1_234, page_size=1024, pages=3, no_checksum=no_checksum
    )
    header, pages, _ = decode_file(data)
    assert (header.min_txid, header.max_txid, header.timestamp) == (min_txid, max_txid, 1_234)
    assert header.no_checksum is no_checksum
    assert [pgno for pgno, _ in pages] == [1, 2, 3]
    assert all(len(page) == 1024 for _, page in pages)


@pytest.mark.anyio
async def test_memory_client_refuses_use_outside_init_and_close():
    client = MemoryReplicaClient()
    with pytest.raises(ReplicaClientError):
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
    async with client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
    with pytest.raises(ReplicaClientError):
        await client.open_ltx_file(0, 1, 1)
    with pytest.raises(ReplicaClientError):
        await client.init()


@pytest.mark.anyio
async def test_memory_clients_sharing_a_store_see_one_replica():
    store = MemoryStore()
    async with MemoryReplicaClient(store) as writer, MemoryReplicaClient(store) as reader:
        data = make_ltx_bytes(1, 3)
        await writer.write_ltx_file(0, 1, 3, data)
        stream = await reader.open_ltx_file(0, 1, 3)
        assert await stream.readall() == data
