"""Azure-only behaviour: Go's URL and config rules, key layout and metadata, staged
uploads, SAS and shared-key authentication, and how failures reach the engine."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from litestream_abs import client as abs_client
from litestream_abs.client import BLOCK_SIZE, METADATA_KEY, ABSReplicaClient
from litestream_abs.errors import Where, translate
from litestream_abs.settings import settings_from

from litestream_core.client import SNAPSHOT_LEVEL, ReplicaURL
from litestream_core.errors import (
    ConfigError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.plugins import make_replica_client
from litestream_core.testing.ltxgen import make_ltx_bytes, timestamp_to_datetime

from .conftest import ACCOUNT, ACCOUNT_KEY

pytestmark = pytest.mark.anyio


def settings(url: str, env: dict[str, str] | None = None, **options):
    return settings_from(ReplicaURL.parse(url), options, env or {})


def test_url_and_config_forms():
    s = settings("abs://acct@ctr/a//b/db/")
    assert (s.account_name, s.container, s.path) == ("acct", "ctr", "a/b/db")
    assert s.endpoint == "https://acct.blob.core.windows.net"
    assert s.key(0, 1, 2) == "a/b/db/ltx/0/0000000000000001-0000000000000002.ltx"
    bare = settings("abs://acct@ctr")
    assert bare.key(9, 1, 1) == "ltx/9/0000000000000001-0000000000000001.ltx"  # as Go
    assert bare.delete_all_prefix == "ltx/"  # never the whole container
    config = ReplicaURL(scheme="abs", host="ctr", path="db", raw="abs://ctr/db")
    cfg = settings_from(config, {"bucket": "ctr", "account-name": "other"}, {})
    assert (cfg.account_name, cfg.path) == ("other", "db")
    with pytest.raises(ConfigError, match="account name is required"):
        settings("abs://ctr/db")
    with pytest.raises(ConfigError, match="bucket required"):
        settings("abs:///db", endpoint="http://127.0.0.1:1/acct")


def test_credentials_are_chosen_as_go_chooses_them():
    env = {"LITESTREAM_AZURE_SAS_TOKEN": "?sv=env", "LITESTREAM_AZURE_ACCOUNT_KEY": "envkey"}
    assert settings("abs://a@c/db", env, **{"sas-token": "sv=cfg"}).auth.secret == "sv=cfg"
    from_env = settings("abs://a@c/db", env)
    assert (from_env.auth.kind, from_env.auth.secret) == ("sas", "sv=env")
    key = settings("abs://a@c/db", {"LITESTREAM_AZURE_ACCOUNT_KEY": "envkey"})
    assert (key.auth.kind, key.auth.secret) == ("shared-key", "envkey")
    assert "LITESTREAM_AZURE_ACCOUNT_KEY" in key.auth.source
    assert settings("abs://a@c/db", **{"account-key": "k"}).auth.kind == "shared-key"
    assert settings("abs://a@c/db").auth.kind == "default"
    assert "envkey" not in repr(key) and "sv=env" not in repr(from_env)


async def test_key_layout_and_metadata_are_gos(azurite, anyio_backend):
    container = azurite.make_container()
    client = make_replica_client(f"abs://{container}/dbs/app", azurite.options())
    data = make_ltx_bytes(1, 0x2F, timestamp_ms=1_700_000_000_120)
    await client.write_ltx_file(SNAPSHOT_LEVEL, 1, 0x2F, data)
    await client.close()
    service = azurite.service().get_container_client(container)
    (blob,) = service.list_blobs(include=["metadata"])
    assert blob.name == "dbs/app/ltx/9/0000000000000001-000000000000002f.ltx"
    assert blob.metadata == {METADATA_KEY: "2023-11-14T22:13:20.12Z"}
    assert blob.content_settings.content_type == "application/octet-stream"


async def test_reads_timestamps_go_wrote(azurite, anyio_backend):
    container = azurite.make_container()
    service = azurite.service().get_container_client(container)
    service.upload_blob(
        "db/ltx/0/0000000000000003-0000000000000004.ltx",
        make_ltx_bytes(3, 4),
        metadata={METADATA_KEY: "2024-02-29T12:00:00.5Z"},
    )
    client = make_replica_client(f"abs://{container}/db", azurite.options())
    (info,) = [i async for i in client.ltx_files(0)]
    assert info.created_at == timestamp_to_datetime(1_709_208_000_500)
    await client.close()


async def test_staged_upload_and_failed_one_keeps_previous_blob(azurite, anyio_backend):
    container = azurite.make_container()
    client = make_replica_client(f"abs://{container}/db", azurite.options())
    data = make_ltx_bytes(1, 1, pages=[(p, os.urandom(4096)) for p in range(1, 2600)])
    assert len(data) > 2 * BLOCK_SIZE

    async def chunks(upto: int, fail: bool = False):
        for i in range(0, upto, 1 << 20):
            yield data[i : min(upto, i + (1 << 20))]
        if fail:
            raise OSError("local file vanished")

    info = await client.write_ltx_file(0, 1, 1, chunks(len(data)))
    assert info.size == len(data)
    stream = await client.open_ltx_file(0, 1, 1, offset=BLOCK_SIZE - 3, size=6)
    async with stream:
        assert await stream.readall() == data[BLOCK_SIZE - 3 : BLOCK_SIZE + 3]
    with pytest.raises(OSError, match="vanished"):
        await client.write_ltx_file(0, 1, 1, chunks(2 * BLOCK_SIZE + 10, fail=True))
    stream = await client.open_ltx_file(0, 1, 1)
    async with stream:
        assert await stream.readall() == data
    await client.close()


async def test_sas_token_works_and_a_bad_key_is_a_permission_error(azurite, anyio_backend):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    container = azurite.make_container()
    sas = generate_container_sas(
        ACCOUNT,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    url = f"abs://{container}/db"
    client = make_replica_client(url, {"endpoint": azurite.endpoint, "sas-token": sas})
    await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
    assert [i.min_txid async for i in client.ltx_files(0)] == [1]
    await client.close()

    wrong_key = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    bad = make_replica_client(url, azurite.options(**{"account-key": wrong_key}))
    with pytest.raises(ReplicaPermissionError) as info:
        await bad.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))
    message = info.value.one_line()
    assert container in message
    assert "shared key for account 'devstoreaccount1' from the account-key in the config" in message
    assert wrong_key not in message and "\n" not in message
    await bad.close()


async def test_listing_and_delete_all_follow_pages(azurite, monkeypatch, anyio_backend):
    monkeypatch.setattr(abs_client, "LIST_PAGE_SIZE", 2)  # many pages from a few files
    container = azurite.make_container()
    client = make_replica_client(f"abs://{container}/db", azurite.options())
    for n in range(1, 8):
        await client.write_ltx_file(0, n, n, make_ltx_bytes(n, n, timestamp_ms=1_000_000 * n))
    service = azurite.service().get_container_client(container)
    service.upload_blob("db/ltx/0/README", b"not an LTX file")
    infos = [i async for i in client.ltx_files(0)]
    assert [i.min_txid for i in infos] == list(range(1, 8))
    assert [i.created_at for i in infos] == [
        timestamp_to_datetime(1_000_000 * n) for n in range(1, 8)
    ]
    assert [i.min_txid async for i in client.ltx_files(0, seek=4)] == [4, 5, 6, 7]
    await client.delete_all()
    assert list(service.list_blobs()) == []
    await client.close()


async def test_missing_container_is_not_transient(azurite, anyio_backend):
    client = make_replica_client("abs://no-such-container/db", azurite.options())
    with pytest.raises(ReplicaClientError, match="does not exist") as info:
        [i async for i in client.ltx_files(0)]
    assert not isinstance(info.value, TransientReplicaError)
    await client.close()


async def test_server_down_is_transient_then_recovers(own_azurite, anyio_backend):
    container = own_azurite.make_container("restart-container")
    url = ReplicaURL.parse(f"abs://{container}/db")
    client = ABSReplicaClient(settings_from(url, own_azurite.options()), retry_total=0)
    first = make_ltx_bytes(1, 1)
    await client.write_ltx_file(0, 1, 1, first)
    own_azurite.stop()
    with pytest.raises(TransientReplicaError):
        await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))
    with pytest.raises(TransientReplicaError):
        [i async for i in client.ltx_files(0)]
    with pytest.raises(TransientReplicaError):
        await client.open_ltx_file(0, 1, 1)
    own_azurite.start()  # Azurite keeps its data directory across the restart
    data = make_ltx_bytes(2, 2)
    await client.write_ltx_file(0, 2, 2, data)
    assert [i.min_txid async for i in client.ltx_files(0)] == [1, 2]
    stream = await client.open_ltx_file(0, 1, 1)
    async with stream:
        assert await stream.readall() == first
    await client.close()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (503, TransientReplicaError),
        (500, TransientReplicaError),
        (429, TransientReplicaError),
        (408, TransientReplicaError),
        (403, ReplicaPermissionError),
        (404, ReplicaClientError),  # no key: the container itself is missing
        (409, ReplicaClientError),
    ],
)
def test_error_translation(status, expected):
    from azure.core.exceptions import HttpResponseError

    exc = HttpResponseError(message="first line\nRequestId: ...")
    exc.status_code = status
    error = translate(exc, Where("ctr", "src"), "list")
    assert type(error) is expected
    assert "\n" not in error.one_line()


def test_connection_failures_are_transient():
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    where = Where("ctr", "src")
    for exc in (ServiceRequestError("refused"), ServiceResponseError("reset")):
        assert isinstance(translate(exc, where, "put", "k"), TransientReplicaError)
