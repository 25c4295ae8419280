"""Concurrency: one client serves many tasks at once without mixing them up."""

from __future__ import annotations

import asyncio

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaClient
from litestream_core.testing.suite._base import (
    SuiteBase,
    broken,
    byte_difference,
    file_ref,
    keys,
    listed,
    ltx,
    read,
)
from litestream_core.testing.suite.write import chunked


class ConcurrencyTests(SuiteBase):
    async def test_parallel_writes_lists_and_reads(self, replica_client: ReplicaClient) -> None:
        files = {
            (level, n, n + 1): ltx(n, n + 1, pages=n % 3 + 1)
            for level in (0, 1, SNAPSHOT_LEVEL)
            for n in range(1, 24, 2)
        }
        seeded = dict(list(files.items())[:3])
        for (level, lo, hi), data in seeded.items():
            await replica_client.write_ltx_file(level, lo, hi, data)

        writes = [
            replica_client.write_ltx_file(level, lo, hi, chunked(data, (500, 3000)))
            for (level, lo, hi), data in files.items()
            if (level, lo, hi) not in seeded
        ]
        lists = [
            listed(replica_client, level) for level in (0, 1, SNAPSHOT_LEVEL) for _ in range(3)
        ]
        reads = [read(replica_client, *key) for key in seeded for _ in range(3)]
        written, listings, contents = await asyncio.gather(
            asyncio.gather(*writes), asyncio.gather(*lists), asyncio.gather(*reads)
        )

        for info in written:
            key = (info.level, info.min_txid, info.max_txid)
            assert info.size == len(files[key]), broken(
                "a write returns its own file's size while others write too",
                f"{key}: {info.size} for {len(files[key])}",
            )
        for infos in listings:
            found = keys(infos)
            assert found == sorted(found), broken("listings are in ascending order", found)
            for info in infos:
                size = len(files[(info.level, info.min_txid, info.max_txid)])
                assert info.size == size, broken(
                    "a listing during writes gives whole sizes", f"{info}: size {size} expected"
                )
        for key, got in zip([k for k in seeded for _ in range(3)], contents, strict=True):
            assert got == files[key], broken(
                "reads during other writes return their own file",
                f"{key}: {byte_difference(got, files[key])}",
            )
        for level in (0, 1, SNAPSHOT_LEVEL):
            found = keys(await listed(replica_client, level))
            want = sorted(k for k in files if k[0] == level)
            assert found == want, broken(
                "after parallel writes, listings show every file",
                f"level {level}: missing {sorted(set(want) - set(found))}",
            )
        for key, data in files.items():
            got = await read(replica_client, *key)
            assert got == data, broken(
                "files written in parallel read back as written",
                f"{key}: {byte_difference(got, data)}",
            )

    async def test_parallel_rewrites_of_one_file_never_mix(
        self, replica_client: ReplicaClient
    ) -> None:
        versions = [ltx(1, 2, pages=p, timestamp_ms=1_600_000_000_000 + p) for p in (1, 2, 3, 4)]
        await asyncio.gather(
            *(replica_client.write_ltx_file(0, 1, 2, chunked(v, (700,))) for v in versions)
        )
        data = await read(replica_client, 0, 1, 2)
        assert data in versions, broken(
            "parallel rewrites of one file leave one whole version",
            f"{len(data)} bytes matching none of the {len(versions)} versions",
        )
        sizes = [i.size for i in await listed(replica_client, 0)]
        assert sizes == [len(data)], broken(
            "after parallel rewrites, the listing gives the surviving version's size",
            f"sizes {sizes}, read {len(data)} bytes",
        )

    async def test_repeated_concurrent_rounds(self, replica_client: ReplicaClient) -> None:
        """Rounds of writes, rewrites, deletes, reads and listings, all at once.

        Within a round only files nobody touches are read, and listings must show them;
        after each round the replica must equal the model exactly.
        """
        model: dict[tuple[int, int, int], bytes] = {}
        txid = 1
        for round_ in range(3):
            new = {}
            for level in (0, 1, SNAPSHOT_LEVEL):
                for _ in range(3):
                    new[(level, txid, txid + 1)] = ltx(txid, txid + 1, pages=1 + txid % 3)
                    txid += 2
            existing = sorted(model)
            rewrites = {
                key: ltx(key[1], key[2], pages=4, timestamp_ms=1_700_000_000_000 + round_)
                for key in existing[::4]
            }
            deletes = existing[1::4]
            stable = [key for key in existing if key not in rewrites and key not in deletes]

            writes = [
                replica_client.write_ltx_file(*key, chunked(data, (333, 2048)))
                for key, data in {**new, **rewrites}.items()
            ]
            removal = replica_client.delete_ltx_files([file_ref(*key) for key in deletes])
            reads = [read(replica_client, *key) for key in stable[:6]]
            lists = [listed(replica_client, level) for level in (0, 1, SNAPSHOT_LEVEL)]
            _, _, contents, listings = await asyncio.gather(
                asyncio.gather(*writes), removal, asyncio.gather(*reads), asyncio.gather(*lists)
            )
            for key, got in zip(stable[:6], contents, strict=True):
                assert got == model[key], broken(
                    "a file nobody touches reads back unchanged while other files are "
                    "written, rewritten and deleted",
                    f"round {round_}, {key}: {byte_difference(got, model[key])}",
                )
            known = set(model) | set(new)
            for level, infos in zip((0, 1, SNAPSHOT_LEVEL), listings, strict=True):
                found = keys(infos)
                assert found == sorted(found), broken("listings are in ascending order", found)
                unknown = set(found) - known
                assert not unknown, broken(
                    "a listing shows only files that were written", f"round {round_}: {unknown}"
                )
                missing = {k for k in stable if k[0] == level} - set(found)
                assert not missing, broken(
                    "a listing during other writes still shows the untouched files",
                    f"round {round_}: missing {sorted(missing)}",
                )

            model.update(new)
            model.update(rewrites)
            for key in deletes:
                del model[key]
            for level in (0, 1, SNAPSHOT_LEVEL):
                got_keys = keys(await listed(replica_client, level))
                want = sorted(k for k in model if k[0] == level)
                assert got_keys == want, broken(
                    "after a round, listings show exactly the files written and not deleted",
                    f"round {round_}, level {level}: missing {sorted(set(want) - set(got_keys))}, "
                    f"unexpected {sorted(set(got_keys) - set(want))}",
                )
            for key in [*new, *rewrites]:
                got = await read(replica_client, *key)
                assert got == model[key], broken(
                    "after a round, each file written in it reads back as written",
                    f"round {round_}, {key}: {byte_difference(got, model[key])}",
                )
