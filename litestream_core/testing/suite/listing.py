"""Listing: order, seek, empty levels, level separation, filled-in fields."""

from __future__ import annotations

from datetime import UTC, datetime

from litestream_core.client import SNAPSHOT_LEVEL, Capability, ReplicaClient
from litestream_core.testing.suite._base import (
    SuiteBase,
    assert_plausible_time,
    broken,
    file_ref,
    header_time,
    keys,
    listed,
    ltx,
    read,
)

# Written deliberately out of order, and across hex digit boundaries (9, a, 10).
_OUT_OF_ORDER = [(0x10, 0x10), (0x9, 0x9), (0xA, 0xF), (0x1, 0x8), (0x11, 0x20)]


class ListingTests(SuiteBase):
    async def test_list_is_ascending_when_written_out_of_order(
        self, replica_client: ReplicaClient
    ) -> None:
        for lo, hi in _OUT_OF_ORDER:
            await replica_client.write_ltx_file(0, lo, hi, ltx(lo, hi))
        expected = [(0, lo, hi) for lo, hi in sorted(_OUT_OF_ORDER)]
        for use_metadata in (False, True):
            got = keys(await listed(replica_client, 0, use_metadata=use_metadata))
            assert got == expected, broken(
                "listings are in ascending min_txid order", f"use_metadata={use_metadata}: {got}"
            )

    async def test_list_seek_starts_at_given_or_next_txid(
        self, replica_client: ReplicaClient
    ) -> None:
        for lo, hi in _OUT_OF_ORDER:
            await replica_client.write_ltx_file(1, lo, hi, ltx(lo, hi))
        starts = sorted(lo for lo, _ in _OUT_OF_ORDER)
        for seek in (0, 1, 2, 0x9, 0xB, 0x10, 0x11, 0x12):
            infos = await listed(replica_client, 1, seek=seek)
            # Sorted here: order has its own test, this one is about which files come back.
            got = sorted(i.min_txid for i in infos)
            assert got == [s for s in starts if s >= seek], broken(
                "a listing from seek gives the files whose min_txid >= seek",
                f"seek={seek}: min_txids {got}",
            )

    async def test_list_empty_replica_yields_nothing(self, replica_client: ReplicaClient) -> None:
        for level in (0, 1, 2, SNAPSHOT_LEVEL):
            assert await listed(replica_client, level) == []
            assert await listed(replica_client, level, use_metadata=True) == []

    async def test_list_missing_level_yields_nothing(self, replica_client: ReplicaClient) -> None:
        await replica_client.write_ltx_file(0, 1, 1, ltx(1, 1))
        await replica_client.write_ltx_file(SNAPSHOT_LEVEL, 1, 1, ltx(1, 1))
        for level in (1, 2, 3, 8):
            assert await listed(replica_client, level) == []

    async def test_list_keeps_levels_apart(self, replica_client: ReplicaClient) -> None:
        levels = (0, 1, 2, SNAPSHOT_LEVEL)
        contents = {level: ltx(1, 5, pages=level + 1) for level in levels}
        for level, data in contents.items():
            await replica_client.write_ltx_file(level, 1, 5, data)
        await replica_client.write_ltx_file(1, 6, 6, ltx(6, 6))
        for level, data in contents.items():
            infos = await listed(replica_client, level)
            expected = [(level, 1, 5)] + ([(1, 6, 6)] if level == 1 else [])
            assert keys(infos) == expected
            assert infos[0].size == len(data)
            assert await read(replica_client, level, 1, 5) == data

    async def test_list_fills_size_and_created_at(self, replica_client: ReplicaClient) -> None:
        written_at = datetime.now(UTC)
        files = {(2, 3): ltx(2, 3, pages=1), (4, 9): ltx(4, 9, pages=5)}
        for (lo, hi), data in files.items():
            await replica_client.write_ltx_file(0, lo, hi, data)
        accurate = self.declares(replica_client, Capability.ACCURATE_METADATA_TIMESTAMPS)
        for use_metadata in (False, True):
            infos = await listed(replica_client, 0, use_metadata=use_metadata)
            assert keys(infos) == [(0, 2, 3), (0, 4, 9)]
            for info in infos:
                data = files[(info.min_txid, info.max_txid)]
                assert info.level == 0
                assert info.size == len(data)
                if use_metadata and accurate:
                    assert info.created_at == header_time(data)
                else:
                    assert_plausible_time(info.created_at, data, written_at)

    async def test_listings_follow_many_writes_across_levels(
        self, replica_client: ReplicaClient
    ) -> None:
        """Each listing shows every file written before it and none deleted before it.

        Listings come between the writes, so a listing served from a cache, or from a
        store that shows new objects late, is seen.
        """
        levels = (0, 1, 2, SNAPSHOT_LEVEL)
        expected: dict[int, dict[tuple[int, int], int]] = {level: {} for level in levels}
        txid = 1
        for round_ in range(6):
            for level in levels:
                for _ in range(4):
                    data = ltx(txid, txid + 1, pages=1 + txid % 3)
                    await replica_client.write_ltx_file(level, txid, txid + 1, data)
                    expected[level][(txid, txid + 1)] = len(data)
                    txid += 2
            if round_ % 2:
                for level in levels:
                    oldest = sorted(expected[level])[:2]
                    await replica_client.delete_ltx_files(
                        [file_ref(level, lo, hi) for lo, hi in oldest]
                    )
                    for k in oldest:
                        del expected[level][k]
            for level in levels:
                want = sorted(expected[level].items())
                got = [
                    ((i.min_txid, i.max_txid), i.size) for i in await listed(replica_client, level)
                ]
                assert got == want, broken(
                    "a listing shows every file written before it, with its size, "
                    "and none deleted before it",
                    f"level {level} after round {round_}: missing "
                    f"{sorted(set(want) - set(got))}, unexpected {sorted(set(got) - set(want))}",
                )
                seek = want[len(want) // 2][0][0]
                got_seek = [
                    (i.min_txid, i.max_txid) for i in await listed(replica_client, level, seek=seek)
                ]
                assert got_seek == [k for k, _ in want if k[0] >= seek], broken(
                    "a listing from seek shows every file from there on",
                    f"level {level} after round {round_}, seek {seek}: {got_seek}",
                )
