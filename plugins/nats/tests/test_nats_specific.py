"""NATS-only behaviour: URL and config keys, credentials, missing buckets, reconnects."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from litestream_nats.client import format_timestamp, parse_timestamp
from litestream_nats.config import DEFAULT_SERVER, resolve_config

from litestream_core.client import ReplicaURL
from litestream_core.errors import (
    ConfigError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.plugins import make_replica_client
from litestream_core.testing import make_ltx_bytes

pytestmark = pytest.mark.anyio


# -- URL and config keys ----------------------------------------------------------------


def test_url_names_server_and_bucket():
    config = resolve_config(ReplicaURL.parse("nats://u:p%40ss@nats.example:4333/my-bucket/"), {})
    assert config.servers == ("nats://nats.example:4333",)
    assert config.bucket == "my-bucket"
    assert (config.username, config.password) == ("u", "p@ss")
    assert "p@ss" not in repr(config)


def test_url_with_several_servers():
    raw = "nats://a.example:4222,b.example:4223/bkt"
    url = ReplicaURL(scheme="nats", host="a.example", path="/bkt", raw=raw)
    assert resolve_config(url, {}).servers == ("nats://a.example:4222", "nats://b.example:4223")


def test_type_form_uses_bucket_key_and_default_server():
    # What the core builds from `type: nats` + `bucket: backups`.
    url = ReplicaURL(scheme="nats", host="backups", raw="nats://backups")
    config = resolve_config(url, {"bucket": "backups"})
    assert (config.servers, config.bucket) == ((DEFAULT_SERVER,), "backups")


def test_type_form_ignores_path_like_go():
    url = ReplicaURL(scheme="nats", host="backups", path="/db1", raw="nats://backups/db1")
    config = resolve_config(url, {"bucket": "backups"})
    assert (config.servers, config.bucket) == ((DEFAULT_SERVER,), "backups")


def test_bucket_key_used_when_url_has_no_path():
    config = resolve_config(ReplicaURL.parse("nats://h:4222"), {"bucket": "b"})
    assert (config.servers, config.bucket) == (("nats://h:4222",), "b")


def test_connection_and_tls_keys():
    options = {
        "max-reconnects": 5,
        "reconnect-wait": "500ms",
        "timeout": "3s",
        "tls": True,
        "root-cas": ["/ca1.pem", "/ca2.pem"],
        "client-cert": "/c.pem",
        "client-key": "/k.pem",
        "creds": "/u.creds",
        "username": "keyuser",
    }
    config = resolve_config(ReplicaURL.parse("nats://h/b"), options)
    assert (config.max_reconnects, config.reconnect_wait, config.timeout) == (5, 0.5, 3.0)
    assert config.uses_tls and config.root_cas == ("/ca1.pem", "/ca2.pem")
    assert (config.client_cert, config.client_key, config.creds) == ("/c.pem", "/k.pem", "/u.creds")
    assert config.username == "keyuser"


def test_defaults_match_go():
    config = resolve_config(ReplicaURL.parse("nats://h/b"), {})
    assert (config.max_reconnects, config.reconnect_wait, config.timeout) == (-1, 2.0, 10.0)
    assert not config.uses_tls


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("nats://h:4222", {}, "bucket required"),
        ("nats://h/b", {"client-cert": "/c.pem"}, "client-cert and client-key"),
        ("nats://h/b", {"reconnect-wait": "soon"}, "invalid duration"),
        ("nats://h/b", {"max-reconnects": "many"}, "max-reconnects"),
        ("nats://h/b", {"tls": "maybe"}, "tls"),
    ],
)
def test_bad_settings_are_config_errors(url, options, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(ReplicaURL.parse(url), options)


def test_timestamp_format_matches_go_rfc3339nano():
    assert format_timestamp(1_234_567_890_987) == "2009-02-13T23:31:30.987Z"
    assert format_timestamp(1_234_567_890_120) == "2009-02-13T23:31:30.12Z"
    assert format_timestamp(1_234_567_890_000) == "2009-02-13T23:31:30Z"
    assert parse_timestamp("2009-02-13T23:31:30.987654321Z") == datetime(
        2009, 2, 13, 23, 31, 30, 987654, tzinfo=UTC
    )
    assert parse_timestamp("2009-02-13T23:31:30Z") == datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)
    assert parse_timestamp("yesterday") is None


# -- Against the server -------------------------------------------------------------------


async def test_timestamp_kept_in_go_header(nats_server, bucket):
    import nats

    data = make_ltx_bytes(1, 2, timestamp_ms=1_234_567_890_987)
    async with make_replica_client(ReplicaURL.parse(f"{nats_server.url}/{bucket}"), {}) as client:
        await client.write_ltx_file(3, 1, 2, data)
    nc = await nats.connect(nats_server.url)
    try:
        store = await nc.jetstream().object_store(bucket)
        info = await store.get_info("ltx/3/0000000000000001-0000000000000002.ltx")
        assert info.headers == {"Litestream-Timestamp": ["2009-02-13T23:31:30.987Z"]}
        assert (await store.get(info.name)).data == data
    finally:
        await nc.close()


async def test_missing_bucket_is_an_error_and_not_created(nats_server):
    import nats

    url = ReplicaURL.parse(f"{nats_server.url}/no-such-bucket")
    client = make_replica_client(url, {})
    with pytest.raises(ReplicaClientError, match="does not exist") as info:
        await client.init()
    assert "nats object add no-such-bucket" in info.value.one_line()
    await client.close()
    nc = await nats.connect(nats_server.url)
    try:
        with pytest.raises(nats.js.errors.NotFoundError):
            await nc.jetstream().object_store("no-such-bucket")
    finally:
        await nc.close()


async def test_user_password_and_auth_failure(nats_factory):
    secret = "s3cr3t-pw"
    server = nats_factory("--user", "litestream", "--pass", secret)
    await server.create_bucket("b", user="litestream", password=secret)
    url = ReplicaURL.parse(f"{server.url}/b")
    async with make_replica_client(url, {"username": "litestream", "password": secret}) as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert [i.max_txid async for i in client.ltx_files(0)] == [1]

    wrong = f"nats://litestream:{secret}-wrong@127.0.0.1:{server.port}/b"
    client = make_replica_client(ReplicaURL.parse(wrong), {"timeout": "2s"})
    with pytest.raises(ReplicaPermissionError, match="authorization failed") as info:
        await client.init()
    line = info.value.one_line()
    assert secret not in line and "\n" not in line
    assert secret not in repr(client)
    await client.close()


async def test_token_auth(nats_factory):
    server = nats_factory("--auth", "tok-123")
    await server.create_bucket("b", token="tok-123")
    async with make_replica_client(
        ReplicaURL.parse(f"{server.url}/b"), {"token": "tok-123"}
    ) as client:
        assert [i async for i in client.ltx_files(0)] == []


async def test_unreachable_server_is_transient(nats_factory):
    server = nats_factory()
    server.stop()  # a port where nothing listens any more
    url = ReplicaURL.parse(f"{server.url}/b")
    client = make_replica_client(url, {"timeout": "1s", "reconnect-wait": "100ms"})
    with pytest.raises(TransientReplicaError, match="cannot connect"):
        await client.init()
    await client.close()


async def _retry(call, deadline_s=30.0):
    """Call until it stops raising TransientReplicaError (the server is coming back)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return await call()
        except TransientReplicaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_server_restart_gives_transient_error_then_reconnects(nats_factory):
    server = nats_factory()
    await server.create_bucket("b")
    options = {"timeout": "1s", "reconnect-wait": "100ms"}
    async with make_replica_client(ReplicaURL.parse(f"{server.url}/b"), options) as client:
        first = make_ltx_bytes(1, 1, pages=3)
        await client.write_ltx_file(0, 1, 1, first)

        server.stop()
        with pytest.raises(TransientReplicaError):
            await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))

        server.start()
        second = make_ltx_bytes(2, 2)
        await _retry(lambda: client.write_ltx_file(0, 2, 2, second))
        assert [i.max_txid async for i in client.ltx_files(0)] == [1, 2]
        stream = await client.open_ltx_file(0, 1, 1)
        async with stream:
            assert await stream.readall() == first


async def test_mutual_tls_with_root_cas_and_client_certificate(nats_factory, tls_files):
    import ssl

    f = tls_files
    server = nats_factory(
        "--tls", "--tlscert", str(f["srv"]), "--tlskey", str(f["srv-key"]),
        "--tlsverify", "--tlscacert", str(f["ca"]),
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(f["ca"]))
    context.load_cert_chain(str(f["cli"]), str(f["cli-key"]))
    await server.create_bucket("b", tls=context)
    url = ReplicaURL.parse(f"{server.url}/b")
    options = {
        "tls": True,
        "root-cas": [str(f["ca"])],
        "client-cert": str(f["cli"]),
        "client-key": str(f["cli-key"]),
        "timeout": "2s",
    }
    async with make_replica_client(url, options) as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert [i.max_txid async for i in client.ltx_files(0)] == [1]

    untrusted = make_replica_client(url, {**options, "root-cas": []})
    with pytest.raises(ReplicaPermissionError, match="not trusted"):
        await untrusted.init()
    await untrusted.close()


async def test_nkey_seed_string_and_seed_file(nats_factory, tmp_path):
    import os

    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
    public = nkeys.from_seed(bytearray(seed.encode())).public_key.decode()
    conf = tmp_path / "nkey.conf"
    conf.write_text(f'authorization {{ users = [ {{ nkey: "{public}" }} ] }}\n')
    server = nats_factory("-c", str(conf))
    await server.create_bucket("b", nkeys_seed_str=seed)
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(seed + "\n")
    url = ReplicaURL.parse(f"{server.url}/b")
    for nkey in (seed, str(seed_file)):
        async with make_replica_client(url, {"nkey": nkey}) as client:
            await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
            assert [i.max_txid async for i in client.ltx_files(0)] == [1]
    with pytest.raises(ConfigError, match="public key"):
        await make_replica_client(url, {"nkey": public}).init()


async def test_new_connection_after_reconnects_are_exhausted(nats_factory):
    server = nats_factory()
    await server.create_bucket("b")
    options = {"timeout": "1s", "reconnect-wait": "100ms", "max-reconnects": 1}
    async with make_replica_client(ReplicaURL.parse(f"{server.url}/b"), options) as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        server.stop()
        with pytest.raises(TransientReplicaError):
            await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))
        await asyncio.sleep(1.0)  # nats-py tries once more, then closes the connection
        server.start()
        await _retry(lambda: client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2)))
        assert [i.max_txid async for i in client.ltx_files(0)] == [1, 2]


async def test_jwt_and_seed_and_creds_file_in_operator_mode(nats_factory, operator_mode):
    server = nats_factory("-c", str(operator_mode.conf))
    await server.create_bucket("b", user_credentials=str(operator_mode.creds))
    url = ReplicaURL.parse(f"{server.url}/b")
    logins = [
        {"jwt": operator_mode.user_jwt, "seed": operator_mode.user_seed},
        {"creds": str(operator_mode.creds)},
    ]
    for txid, login in enumerate(logins, start=1):
        async with make_replica_client(url, {**login, "timeout": "2s"}) as client:
            await client.write_ltx_file(0, txid, txid, make_ltx_bytes(txid, txid))
            assert [i.max_txid async for i in client.ltx_files(0)] == list(range(1, txid + 1))

    anonymous = make_replica_client(url, {"timeout": "2s"})
    with pytest.raises(ReplicaPermissionError, match="authorization"):
        await anonymous.init()
    await anonymous.close()
    from nats_jwt.nkeys_ext import create_user_pair

    # A valid seed of another user: it cannot sign for the JWT's subject.
    stranger_seed = create_user_pair().seed.decode()
    wrong = {"jwt": operator_mode.user_jwt, "seed": stranger_seed, "timeout": "2s"}
    client = make_replica_client(url, wrong)
    with pytest.raises(ReplicaPermissionError) as info:
        await client.init()
    assert stranger_seed not in info.value.one_line() and stranger_seed not in repr(client)
    await client.close()
