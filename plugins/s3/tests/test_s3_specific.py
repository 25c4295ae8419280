"""S3-only behaviour: Go's URL and config rules, key layout and metadata, multipart
uploads, and how server failures reach the engine."""

from __future__ import annotations

import asyncio
import base64
import os
import time

import pytest
from litestream_s3 import client as s3_client
from litestream_s3.client import METADATA_KEY, S3ReplicaClient
from litestream_s3.errors import Where, translate
from litestream_s3.settings import MIN_PART_SIZE, parse_byte_size, settings_from

from litestream_core.backend_support.timestamps import format_timestamp, parse_timestamp
from litestream_core.client import SNAPSHOT_LEVEL, ReplicaURL
from litestream_core.config import parse_config
from litestream_core.errors import (
    ConfigError,
    LTXNotFoundError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.plugins import make_replica_client
from litestream_core.testing.ltxgen import make_ltx_bytes, timestamp_to_datetime

from .conftest import SECRET_ACCESS_KEY

pytestmark = pytest.mark.anyio


def settings(url: str, env: dict[str, str] | None = None, **options):
    return settings_from(ReplicaURL.parse(url), options, env or {})


# -- URL and config rules (Go's NewS3ReplicaClientFromConfig and s3.ParseHost) -------------


def test_url_bucket_and_path_as_go_cleans_them():
    assert (settings("s3://bkt/a/b/db").bucket, settings("s3://bkt/a/b/db").path) == (
        "bkt",
        "a/b/db",
    )
    assert settings("s3://bkt/a//b/../db/").path == "a/db"
    assert settings("s3://bkt").path == "."  # Go: path.Clean("") is "."
    assert settings("s3://bkt/").path == ""


def config_settings(replica_yaml: str):
    config = parse_config(f"dbs:\n  - path: /tmp/app.db\n    replica:\n{replica_yaml}")
    url, options = config.dbs[0].replica.replica_url()
    return settings_from(url, options, {})


def test_config_path_is_used_verbatim():
    # Go keeps a config `path` as written, and an absent one is empty: keys "/0000/...".
    assert config_settings("      type: s3\n      bucket: bkt\n      path: db/\n").path == "db/"
    assert config_settings("      type: s3\n      bucket: bkt\n      path: /db\n").path == "/db"
    assert config_settings("      type: s3\n      bucket: bkt\n").path == ""
    assert settings("s3://bkt/ignored", path="").path == ""


def test_host_forms():
    aws = settings("s3://my-bkt.s3.eu-west-3.amazonaws.com/db")
    assert (aws.bucket, aws.region, aws.endpoint) == ("my-bkt", "eu-west-3", "")
    minio = settings("s3://my-bkt.minio.local:9000/db")
    assert (minio.bucket, minio.endpoint, minio.force_path_style) == (
        "my-bkt",
        "http://minio.local:9000",
        True,
    )
    do = settings("s3://my-bkt.nyc3.digitaloceanspaces.com/db")
    assert (do.bucket, do.region, do.endpoint) == (
        "my-bkt",
        "nyc3",
        "https://nyc3.digitaloceanspaces.com",
    )
    b2 = settings("s3://my-bkt.s3.us-west-004.backblazeb2.com/db")
    assert (b2.endpoint, b2.force_path_style) == ("https://s3.us-west-004.backblazeb2.com", True)
    arn = settings("s3://arn:aws:s3:us-west-2:123456789012:accesspoint/ap/a//db?region=x")
    assert (arn.bucket, arn.path, arn.region) == (
        "arn:aws:s3:us-west-2:123456789012:accesspoint/ap",
        "a/db",
        "x",
    )


def test_query_endpoint_gets_scheme_and_path_style():
    local = settings("s3://bkt/db?endpoint=localhost:9000&region=eu-1")
    assert (local.endpoint_url, local.force_path_style, local.region) == (
        "http://localhost:9000",
        True,
        "eu-1",
    )
    remote = settings("s3://bkt/db?endpoint=s3.example.com&forcePathStyle=false")
    assert (remote.endpoint_url, remote.force_path_style) == ("https://s3.example.com", False)
    tuned = settings("s3://bkt/db?partSize=10485760&concurrency=3&skipVerify=true")
    assert (tuned.part_size, tuned.concurrency, tuned.skip_verify) == (10485760, 3, True)


def test_config_keys_win_over_url():
    s = settings(
        "s3://urlbkt/db?region=url-region&concurrency=3",
        bucket="cfgbkt",
        region="cfg-region",
        concurrency=7,
        endpoint="minio.example.com:9000",
    )
    assert (s.bucket, s.region, s.concurrency) == ("cfgbkt", "cfg-region", 7)
    # An endpoint in the config implies path style; a config endpoint without a scheme
    # gets https, as in Go's client.
    assert (s.force_path_style, s.endpoint_url) == (True, "https://minio.example.com:9000")
    assert (
        settings("s3://b/db", endpoint="http://x:1", **{"force-path-style": False}).force_path_style
        is False
    )


def test_part_size_accepts_go_byte_sizes_and_enforces_minimum():
    assert parse_byte_size("10MB") == 10_000_000
    assert parse_byte_size("5MiB") == 5 * 2**20
    assert parse_byte_size("1.5GiB") == 3 * 2**29
    assert parse_byte_size(6_000_000) == 6_000_000
    assert settings("s3://b/db", **{"part-size": "8MiB"}).part_size == 8 * 2**20
    with pytest.raises(ConfigError, match="at least"):
        settings("s3://b/db", **{"part-size": "1MB"})
    with pytest.raises(ConfigError):
        settings("s3://b/db", **{"part-size": "lots"})


def test_provider_defaults():
    r2 = settings("s3://b/db", endpoint="https://acct.r2.cloudflarestorage.com")
    assert r2.concurrency == 2
    tigris = settings("s3://b/db", endpoint="https://fly.storage.tigris.dev")
    assert (tigris.require_content_md5, tigris.is_tigris) == (False, True)
    assert settings("s3://b/db").require_content_md5 is True
    filebase = settings(
        "s3://b/db", endpoint="https://s3.filebase.com", **{"force-path-style": None}
    )
    assert filebase.force_path_style is True


def test_credentials_sources():
    cfg = settings("s3://b/db", **{"access-key-id": "AK", "secret-access-key": "SK"})
    assert cfg.credentials is not None
    assert cfg.credentials.source == "access-key-id/secret-access-key in the config"
    env = {"LITESTREAM_ACCESS_KEY_ID": "LK", "LITESTREAM_SECRET_ACCESS_KEY": "LS"}
    from_env = settings("s3://b/db", env)
    assert from_env.credentials is not None
    assert (from_env.credentials.access_key_id, from_env.credentials.secret_access_key) == (
        "LK",
        "LS",
    )
    # AWS_* variables win, and then the SDK's own chain reads them.
    aws = {**env, "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "AS"}
    assert settings("s3://b/db", aws).credentials is None
    assert settings("s3://b/db").credentials is None
    assert "SK" not in repr(cfg) and "LS" not in repr(from_env)


def test_sse_settings(tmp_path):
    key = bytes(range(32))
    encoded = base64.b64encode(key).decode()
    s = settings("s3://b/db", **{"sse-customer-key": encoded})
    assert (s.sse_customer_algorithm, s.sse_customer_key) == ("AES256", key)
    assert encoded not in repr(s)
    key_file = tmp_path / "key"
    key_file.write_text(encoded + "\n")
    assert settings("s3://b/db", **{"sse-customer-key-path": str(key_file)}).sse_customer_key == key
    with pytest.raises(ConfigError, match="32 bytes"):
        settings("s3://b/db", **{"sse-customer-key": base64.b64encode(b"short").decode()})
    with pytest.raises(ConfigError, match="AES256"):
        settings("s3://b/db", **{"sse-customer-key": encoded, "sse-customer-algorithm": "DES"})
    with pytest.raises(ConfigError, match="mutually exclusive"):
        settings("s3://b/db", **{"sse-customer-key": encoded, "sse-kms-key-id": "k"})
    with pytest.raises(ConfigError, match="HTTPS"):
        settings("s3://b/db", endpoint="http://s3.example.com", **{"sse-customer-key": encoded})
    assert settings("s3://b/db", endpoint="http://10.1.2.3:9000", **{"sse-customer-key": encoded})


def test_missing_bucket_is_a_config_error():
    with pytest.raises(ConfigError, match="bucket required"):
        settings("s3:///db")


def test_timestamp_text_matches_go_rfc3339nano():
    assert format_timestamp(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert format_timestamp(1_700_000_000_100) == "2023-11-14T22:13:20.1Z"
    assert format_timestamp(1_700_000_000_000) == "2023-11-14T22:13:20Z"
    for ms in (1_700_000_000_123, 1_700_000_000_100, 1_700_000_000_000, 86_399_999):
        parsed = parse_timestamp(format_timestamp(ms))
        assert parsed is not None and int(parsed.timestamp() * 1000) == ms
    assert parse_timestamp("2023-11-14T23:13:20.5+01:00") == parse_timestamp(
        "2023-11-14T22:13:20.5Z"
    )
    assert parse_timestamp("yesterday") is None


# -- Against moto ----------------------------------------------------------------------------


async def test_key_layout_and_metadata_are_gos(moto, anyio_backend):
    bucket = moto.make_bucket()
    client = make_replica_client(f"s3://{bucket}/dbs/app", moto.options())
    data = make_ltx_bytes(0x1A, 0x2F, timestamp_ms=1_700_000_000_120)
    await client.write_ltx_file(SNAPSHOT_LEVEL, 0x1A, 0x2F, data)
    await client.write_ltx_file(10, 0x1A, 0x2F, data)
    await client.close()
    raw = moto.boto3_client()
    keys = sorted(o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"])
    name = "000000000000001a-000000000000002f.ltx"
    assert keys == [f"dbs/app/0009/{name}", f"dbs/app/000a/{name}"]
    head = raw.head_object(Bucket=bucket, Key=keys[0])
    assert head["Metadata"] == {METADATA_KEY: "2023-11-14T22:13:20.12Z"}


async def test_listing_and_delete_all_follow_pages(moto, monkeypatch, anyio_backend):
    monkeypatch.setattr(s3_client, "LIST_PAGE_SIZE", 2)  # many pages from a few files
    bucket = moto.make_bucket()
    client = make_replica_client(f"s3://{bucket}/db", moto.options())
    for n in range(1, 8):
        await client.write_ltx_file(0, n, n, make_ltx_bytes(n, n, timestamp_ms=1_000_000 * n))
    raw = moto.boto3_client()
    raw.put_object(Bucket=bucket, Key="db/0000/README", Body=b"not an LTX file")
    infos = [i async for i in client.ltx_files(0, use_metadata=True)]
    assert [i.min_txid for i in infos] == list(range(1, 8))
    assert [i.created_at for i in infos] == [
        timestamp_to_datetime(1_000_000 * n) for n in range(1, 8)
    ]
    assert [i.min_txid async for i in client.ltx_files(0, seek=4)] == [4, 5, 6, 7]
    await client.delete_all()
    assert "Contents" not in raw.list_objects_v2(Bucket=bucket)
    await client.close()


async def test_multipart_upload_from_bytes_and_failed_one_leaves_nothing(moto, anyio_backend):
    bucket = moto.make_bucket()
    client = make_replica_client(f"s3://{bucket}/db", moto.options(concurrency=2))
    pages = [(p, os.urandom(4096)) for p in range(1, 2800)]  # ~11 MiB, incompressible
    data = make_ltx_bytes(1, 1, pages=pages)
    assert len(data) > 2 * MIN_PART_SIZE
    info = await client.write_ltx_file(0, 1, 1, data)
    assert info.size == len(data)
    stream = await client.open_ltx_file(0, 1, 1, offset=MIN_PART_SIZE - 5, size=10)
    async with stream:
        assert await stream.readall() == data[MIN_PART_SIZE - 5 : MIN_PART_SIZE + 5]

    async def breaks_after_two_parts():
        yield data[: 2 * MIN_PART_SIZE + 10]
        raise OSError("local file vanished")

    with pytest.raises(OSError, match="vanished"):
        await client.write_ltx_file(0, 2, 2, breaks_after_two_parts())
    assert [i.min_txid async for i in client.ltx_files(0)] == [1]
    raw = moto.boto3_client()
    deadline = time.monotonic() + 10
    while raw.list_multipart_uploads(Bucket=bucket).get("Uploads") and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not raw.list_multipart_uploads(Bucket=bucket).get("Uploads")  # aborted
    await client.close()


async def test_abandoned_multipart_uploads_are_aborted_at_start(moto, monkeypatch, anyio_backend):
    """A killed writer's unfinished upload is invisible but stored; the start-up sweep
    aborts those older than a day (here: all), under the replica's path only."""
    bucket = moto.make_bucket()
    raw = moto.boto3_client()
    name = "0000000000000001-0000000000000001.ltx"
    for key in (f"db/0000/{name}", f"db/0009/{name}", f"other/0000/{name}", "db/0000/notes"):
        raw.create_multipart_upload(Bucket=bucket, Key=key)
    client = make_replica_client(f"s3://{bucket}/db", moto.options())
    # moto reports every upload as initiated on 2010-11-10: younger than 30 years.
    monkeypatch.setattr(s3_client, "STALE_UPLOAD_AGE", 30 * 365 * 86400.0)
    assert await client.remove_stale_temp_files() == 0
    monkeypatch.setattr(s3_client, "STALE_UPLOAD_AGE", 86400.0)
    assert await client.remove_stale_temp_files() == 2
    left = sorted(u["Key"] for u in raw.list_multipart_uploads(Bucket=bucket)["Uploads"])
    assert left == ["db/0000/notes", f"other/0000/{name}"]
    await client.close()


async def test_missing_bucket_is_not_transient(moto, anyio_backend):
    client = make_replica_client("s3://no-such-bucket-here/db", moto.options())
    with pytest.raises(ReplicaClientError, match="does not exist") as info:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
    assert not isinstance(info.value, TransientReplicaError)
    await client.close()


async def test_permission_error_names_bucket_and_source_not_secret(
    tmp_path_factory, monkeypatch, anyio_backend
):
    from .conftest import MotoServer

    server = MotoServer(tmp_path_factory.mktemp("moto-auth"))
    server.start(env={"INITIAL_NO_AUTH_ACTION_COUNT": "1"})  # then every key is checked
    try:
        bucket = server.make_bucket()  # the one unauthenticated request
        client = make_replica_client(f"s3://{bucket}/db", server.options())
        with pytest.raises(ReplicaPermissionError) as info:
            await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        message = info.value.one_line()
        assert bucket in message
        assert "access-key-id/secret-access-key in the config" in message
        assert SECRET_ACCESS_KEY not in message and "\n" not in message
        assert isinstance(info.value, PermissionError)
        with pytest.raises(ReplicaPermissionError):
            [i async for i in client.ltx_files(0)]
        await client.close()

        # Keys from the environment reach boto3's own chain, which the message names.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVKEY0000000000")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-never-shown")
        chain = make_replica_client(f"s3://{bucket}/db", {"endpoint": server.endpoint})
        with pytest.raises(ReplicaPermissionError) as info:
            [i async for i in chain.ltx_files(0)]
        assert "the AWS default credential chain (env)" in info.value.one_line()
        assert "env-secret-never-shown" not in info.value.one_line()
        await chain.close()
    finally:
        server.stop()


async def test_server_down_is_transient_then_recovers(own_moto, anyio_backend):
    bucket = own_moto.make_bucket("restart-bucket")
    url = ReplicaURL.parse(f"s3://{bucket}/db")
    client = S3ReplicaClient(settings_from(url, own_moto.options()), max_attempts=1)
    await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
    own_moto.stop()
    with pytest.raises(TransientReplicaError):
        await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))
    with pytest.raises(TransientReplicaError):
        [i async for i in client.ltx_files(0)]
    with pytest.raises(TransientReplicaError):
        await client.open_ltx_file(0, 1, 1)
    own_moto.start()
    own_moto.make_bucket(bucket)  # moto forgets everything on restart
    data = make_ltx_bytes(2, 2)
    await client.write_ltx_file(0, 2, 2, data)
    stream = await client.open_ltx_file(0, 2, 2)
    async with stream:
        assert await stream.readall() == data
    with pytest.raises(LTXNotFoundError):
        await client.open_ltx_file(0, 1, 1)
    await client.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_tls_failure_is_not_transient_and_skip_verify_accepts_it(
    tmp_path_factory, anyio_backend
):
    from .conftest import MotoServer

    server = MotoServer(tmp_path_factory.mktemp("moto-tls"), tls=True)
    server.start()
    try:
        bucket = server.make_bucket()
        strict = make_replica_client(f"s3://{bucket}/db", server.options())
        with pytest.raises(ReplicaClientError, match="TLS") as info:
            await strict.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert not isinstance(info.value, TransientReplicaError)
        assert "skip-verify" in info.value.one_line()
        await strict.close()
        lax = make_replica_client(f"s3://{bucket}/db", server.options(**{"skip-verify": True}))
        await lax.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert [i.min_txid async for i in lax.ltx_files(0)] == [1]
        await lax.close()
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, TransientReplicaError),
        ("InternalError", 500, TransientReplicaError),
        ("RequestTimeout", 400, TransientReplicaError),
        ("RequestCanceled", 408, TransientReplicaError),  # Tigris load shedding (Go #1433)
        ("AccessDenied", 403, ReplicaPermissionError),
        ("NoSuchKey", 404, LTXNotFoundError),
        ("InvalidArgument", 400, ReplicaClientError),
    ],
)
def test_error_translation(code, status, expected):
    from botocore.exceptions import ClientError

    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    error = translate(ClientError(response, "PutObject"), Where("bkt", "src"), "put", "db/k")
    assert type(error) is expected
    assert error.url == "s3://bkt/db/k" and "\n" not in error.one_line()


def test_timeouts_and_dropped_connections_are_transient():
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

    where = Where("bkt", "src")
    for exc in (
        ReadTimeoutError(endpoint_url="http://x"),
        ConnectionClosedError(endpoint_url="http://x"),
        ConnectionResetError("reset by peer"),
    ):
        assert isinstance(translate(exc, where, "get", "k"), TransientReplicaError)


# -- sign-accept-encoding (Go #1424) ---------------------------------------------------------


class _Recorder:
    """An HTTP server on 127.0.0.1 answering every request with an empty bucket listing
    and keeping each request's headers."""

    def __init__(self) -> None:
        import http.server
        import threading

        seen = self.headers = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(dict(self.headers))
                body = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                        b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
                        b"<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
                        b"</ListBucketResult>")  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.mark.parametrize(("given", "signed"), [(None, True), (True, True), (False, False)])
async def test_sign_accept_encoding(given, signed):
    recorder = _Recorder()
    options = {"endpoint": recorder.endpoint, "access-key-id": "AK", "secret-access-key": "SK"}
    if given is not None:
        options["sign-accept-encoding"] = given
    client = make_replica_client("s3://b/p", options)
    try:
        assert [f async for f in client.ltx_files(0)] == []
    finally:
        await client.close()
        recorder.server.shutdown()
    headers = recorder.headers[-1]
    signed_headers = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert ("accept-encoding" in signed_headers.split(";")) is signed
    assert headers.get("Accept-Encoding") == "identity"


def test_sign_accept_encoding_off_for_google_by_default():
    assert (
        settings("s3://b/p", endpoint="https://storage.googleapis.com").sign_accept_encoding
        is False
    )
    assert settings("s3://b/p?signAcceptEncoding=false").sign_accept_encoding is False
    assert settings("s3://b/p").sign_accept_encoding is True
