"""Go's OSS URL and key rules, mapped onto OSS's S3-compatible API; errors name OSS."""

from __future__ import annotations

import pytest
from litestream_oss.settings import settings_from

from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError, LTXNotFoundError
from litestream_core.plugins import make_replica_client

pytestmark = pytest.mark.anyio

KEYS = {"access-key-id": "id", "secret-access-key": "secret"}


@pytest.mark.parametrize(
    ("url", "bucket", "region", "endpoint"),
    [
        ("oss://b/db", "b", "cn-hangzhou", "https://s3.oss-cn-hangzhou.aliyuncs.com"),
        ("oss://b.oss-eu-central-1.aliyuncs.com/db", "b", "eu-central-1",
         "https://s3.oss-eu-central-1.aliyuncs.com"),
        ("oss://b.oss-cn-beijing-internal.aliyuncs.com/db", "b", "cn-beijing",
         "https://s3.oss-cn-beijing.aliyuncs.com"),
    ],
)  # fmt: skip
def test_url_hosts_follow_go(url, bucket, region, endpoint):
    s = settings_from(ReplicaURL.parse(url), KEYS, environ={})
    assert (s.bucket, s.region, s.endpoint_url, s.path) == (bucket, region, endpoint, "db")
    assert not s.force_path_style  # OSS serves buckets as virtual hosts only


def test_endpoints_map_to_the_s3_compatible_api():
    url = ReplicaURL.parse("oss://b/db")
    s = settings_from(url, {**KEYS, "endpoint": "oss-cn-shanghai-internal.aliyuncs.com"}, {})
    assert s.endpoint_url == "https://s3.oss-cn-shanghai-internal.aliyuncs.com"
    local = settings_from(url, {**KEYS, "endpoint": "http://127.0.0.1:9000"}, {})
    assert (local.endpoint_url, local.force_path_style) == ("http://127.0.0.1:9000", True)
    proxy = settings_from(url, {**KEYS, "endpoint": "oss.example.com"}, {})
    assert (proxy.endpoint_url, proxy.force_path_style) == ("https://oss.example.com", False)


def test_config_form_and_go_errors():
    config_url = ReplicaURL(scheme="oss", host="b", path="", raw="oss://b")
    s = settings_from(config_url, {**KEYS, "bucket": "b", "path": "", "region": "us-west-1"}, {})
    assert (s.bucket, s.path, s.region) == ("b", "", "us-west-1")  # Go keys "/0000/..."
    with pytest.raises(ConfigError, match="cannot specify url & bucket"):
        settings_from(ReplicaURL.parse("oss://b/db"), {**KEYS, "bucket": "c"}, {})
    with pytest.raises(ConfigError, match="bucket required"):
        settings_from(ReplicaURL(scheme="oss", raw="oss://"), {**KEYS, "path": "x"}, {})
    with pytest.raises(ConfigError, match="part-size"):
        settings_from(ReplicaURL.parse("oss://b/db"), {**KEYS, "part-size": "10KB"}, {})
    sized = settings_from(ReplicaURL.parse("oss://b/db"), {**KEYS, "part-size": "8MiB"}, {})
    assert (sized.part_size, sized.concurrency, sized.timeout) == (8 << 20, 3, 30.0)
    timed = settings_from(ReplicaURL.parse("oss://b/db"), {**KEYS, "timeout": "5s"}, {})
    assert timed.timeout == 5.0


def test_credentials_from_config_else_the_oss_variables():
    url = ReplicaURL.parse("oss://b/db")
    env = {"OSS_ACCESS_KEY_ID": "eid", "OSS_ACCESS_KEY_SECRET": "esecret"}
    s = settings_from(url, {}, env)
    assert s.credentials is not None and s.credentials.access_key_id == "eid"
    assert "esecret" not in repr(s)
    assert settings_from(url, KEYS, env).credentials.access_key_id == "id"
    with pytest.raises(ConfigError, match="no credentials") as info:
        settings_from(url, {}, {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    assert "OSS_ACCESS_KEY_ID" in (info.value.hint or "")


async def test_errors_name_oss_and_layout_is_gos(oss, bucket, replica_prefix):
    from litestream_core.testing.ltxgen import make_ltx_bytes

    async with make_replica_client(f"oss://{bucket}/{replica_prefix}", oss.options()) as client:
        assert client.type == "oss"
        with pytest.raises(LTXNotFoundError) as info:
            await client.open_ltx_file(0, 1, 1)
        assert str(info.value).startswith("oss: ")
        await client.write_ltx_file(9, 1, 2, make_ltx_bytes(1, 2))
    listed = oss.boto3_client().list_objects_v2(Bucket=bucket, Prefix=replica_prefix)["Contents"]
    assert [o["Key"] for o in listed] == [
        f"{replica_prefix}/0009/0000000000000001-0000000000000002.ltx"
    ]
