"""GCS-only behaviour: Go's key layout and metadata, the resumable upload path, and
how failures reach the engine."""

from __future__ import annotations

import asyncio
import os

import pytest
from google.api_core import exceptions as gx
from litestream_gcs import client as gcs_client
from litestream_gcs.client import METADATA_KEY, SINGLE_UPLOAD_MAX, GCSReplicaClient
from litestream_gcs.errors import Where, translate
from litestream_gcs.settings import settings_from

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaURL
from litestream_core.errors import (
    ConfigError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.plugins import make_replica_client
from litestream_core.testing.ltxgen import make_ltx_bytes, timestamp_to_datetime

pytestmark = pytest.mark.anyio


def test_url_and_config_forms():
    s = settings_from(ReplicaURL.parse("gs://bkt/a//b/db/"), {})
    assert (s.bucket, s.path, s.key(0, 1, 2)) == (
        "bkt",
        "a/b/db",
        "a/b/db/ltx/0/0000000000000001-0000000000000002.ltx",
    )
    bare = settings_from(ReplicaURL.parse("gs://bkt"), {})
    assert bare.key(9, 1, 1) == "ltx/9/0000000000000001-0000000000000001.ltx"  # as Go
    assert bare.delete_all_prefix == "ltx/"  # never the whole bucket
    config = ReplicaURL(scheme="gs", host="cfg", path="db", raw="gs://cfg/db")
    assert settings_from(config, {"bucket": "cfg"}).key(10, 1, 1).startswith("db/ltx/10/")
    assert settings_from(config, {}).delete_all_prefix == "db/"
    with pytest.raises(ConfigError, match="bucket required"):
        settings_from(ReplicaURL.parse("gs:///db"), {})


async def test_key_layout_and_metadata_are_gos(gcs, anyio_backend):
    bucket = gcs.make_bucket()
    client = make_replica_client(f"gs://{bucket}/dbs/app")
    await client.write_ltx_file(
        SNAPSHOT_LEVEL, 1, 0x2F, make_ltx_bytes(1, 0x2F, timestamp_ms=1_700_000_000_120)
    )
    await client.close()
    (blob,) = gcs.sdk_client().list_blobs(bucket)
    assert blob.name == "dbs/app/ltx/9/0000000000000001-000000000000002f.ltx"
    assert blob.metadata == {METADATA_KEY: "2023-11-14T22:13:20.12Z"}


async def test_reads_timestamps_go_wrote(gcs, anyio_backend):
    """An object written the way Go writes it lists with Go's timestamp."""
    bucket = gcs.make_bucket()
    blob = gcs.sdk_client().bucket(bucket).blob("db/ltx/0/0000000000000003-0000000000000004.ltx")
    blob.metadata = {METADATA_KEY: "2024-02-29T12:00:00.5Z"}
    blob.upload_from_string(make_ltx_bytes(3, 4))
    client = make_replica_client(f"gs://{bucket}/db")
    (info,) = [i async for i in client.ltx_files(0)]
    assert info.created_at == timestamp_to_datetime(1_709_208_000_500)
    await client.close()


async def test_resumable_upload_and_failed_one_leaves_nothing(gcs, anyio_backend):
    bucket = gcs.make_bucket()
    client = make_replica_client(f"gs://{bucket}/db")
    pages = [(p, os.urandom(4096)) for p in range(1, 2600)]  # ~10 MiB, incompressible
    data = make_ltx_bytes(1, 1, pages=pages)
    assert len(data) > SINGLE_UPLOAD_MAX

    async def chunks(upto: int, fail: bool = False):
        for i in range(0, upto, 1 << 20):
            yield data[i : min(upto, i + (1 << 20))]
        if fail:
            raise OSError("local file vanished")

    info = await client.write_ltx_file(0, 1, 1, chunks(len(data)))
    assert info.size == len(data)
    stream = await client.open_ltx_file(0, 1, 1)
    async with stream:
        assert await stream.readall() == data
    with pytest.raises(OSError, match="vanished"):
        await client.write_ltx_file(0, 2, 2, chunks(SINGLE_UPLOAD_MAX + 1_000_000, fail=True))
    assert [i.min_txid async for i in client.ltx_files(0)] == [1]
    await client.close()


async def test_listing_and_delete_all_follow_pages(gcs, monkeypatch, anyio_backend):
    monkeypatch.setattr(gcs_client, "LIST_PAGE_SIZE", 2)  # many pages from a few files
    bucket = gcs.make_bucket()
    client = make_replica_client(f"gs://{bucket}/db")
    for n in range(1, 8):
        await client.write_ltx_file(0, n, n, make_ltx_bytes(n, n, timestamp_ms=1_000_000 * n))
    gcs.sdk_client().bucket(bucket).blob("db/ltx/0/README").upload_from_string(b"not LTX")
    infos = [i async for i in client.ltx_files(0)]
    assert [i.min_txid for i in infos] == list(range(1, 8))
    assert [i.created_at for i in infos] == [
        timestamp_to_datetime(1_000_000 * n) for n in range(1, 8)
    ]
    assert [i.min_txid async for i in client.ltx_files(0, seek=4)] == [4, 5, 6, 7]
    await client.delete_all()
    assert list(gcs.sdk_client().list_blobs(bucket)) == []
    await client.close()


async def test_missing_bucket_is_not_transient(gcs, anyio_backend):
    client = make_replica_client("gs://no-such-bucket-here/db")
    with pytest.raises(ReplicaClientError, match="does not exist") as info:
        [i async for i in client.ltx_files(0)]
    assert not isinstance(info.value, TransientReplicaError)
    await client.close()


def test_permission_errors_name_bucket_and_credential_source():
    where = Where("bkt", "credentials from GOOGLE_APPLICATION_CREDENTIALS (/etc/sa.json)")
    error = translate(gx.Forbidden("caller lacks storage.objects.create"), where, "put", "db/x")
    assert isinstance(error, ReplicaPermissionError)
    assert error.one_line() == (
        "gs: access to bucket 'bkt' denied (HTTP 403) using credentials from "
        "GOOGLE_APPLICATION_CREDENTIALS (/etc/sa.json)"
    )
    throttled = translate(gx.TooManyRequests("slow down"), where, "put", "db/x")
    assert isinstance(throttled, TransientReplicaError)


async def test_unusable_application_credentials_are_a_permission_error(
    monkeypatch, tmp_path, anyio_backend
):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    client = make_replica_client("gs://bkt/db")
    with pytest.raises(ReplicaPermissionError, match="no Google credentials"):
        await client.init()
    await client.close()


async def test_server_down_is_transient_then_recovers(own_gcs, anyio_backend):
    bucket = own_gcs.make_bucket("restart-bucket")
    client = GCSReplicaClient(
        settings_from(ReplicaURL.parse(f"gs://{bucket}/db"), {}), retry_timeout=0.5
    )
    await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
    own_gcs.stop()
    with pytest.raises(TransientReplicaError):
        await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))
    with pytest.raises(TransientReplicaError):
        [i async for i in client.ltx_files(0)]
    with pytest.raises(TransientReplicaError):
        await client.open_ltx_file(0, 1, 1)
    own_gcs.start()
    data = make_ltx_bytes(2, 2)
    await client.write_ltx_file(0, 2, 2, data)
    assert [i.min_txid async for i in client.ltx_files(0)] == [1, 2]
    stream = await client.open_ltx_file(0, 2, 2)
    async with stream:
        assert await stream.readall() == data
    await client.close()


async def test_cancelled_resumable_upload_leaves_nothing(gcs, anyio_backend):
    """Cancelled while the upload thread waits for data: no object, and the thread ends
    (a stuck one would hang the event loop's shutdown after the test)."""
    bucket = gcs.make_bucket()
    client = make_replica_client(f"gs://{bucket}/db")
    data = make_ltx_bytes(1, 1, pages=[(p, os.urandom(4096)) for p in range(1, 2600)])
    waiting = asyncio.Event()

    async def stalls_after_one_chunk():
        yield data[: SINGLE_UPLOAD_MAX + 100]
        waiting.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(client.write_ltx_file(0, 1, 1, stalls_after_one_chunk()))
    await waiting.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [i async for i in client.ltx_files(0)] == []
    await client.close()
