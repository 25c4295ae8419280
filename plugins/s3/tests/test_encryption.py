"""An encrypted replica on S3 (moto): the core's shared check, with every object read
back through boto3, as someone who took the bucket would; the VFS and follow mode
over it (range reads through the sealed layout, against a real S3 server)."""

from __future__ import annotations

from litestream_core.encryption.layout import INTRO
from litestream_core.testing.encrypted import AgeKey, age_block, check_encrypted_replica
from litestream_core.testing.read_checks import check_follow, check_vfs, make_history

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from .test_e2e import env


def test_encrypted_s3_replica(moto, tmp_path):
    bucket = moto.make_bucket()
    s3 = moto.boto3_client()

    def stored() -> dict[str, bytes]:
        listing = s3.list_objects_v2(Bucket=bucket)
        return {
            o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in listing.get("Contents", ())
        }

    replica = ["type: s3", f"bucket: {bucket}", "path: app/db", f"endpoint: {moto.endpoint}"]
    check_encrypted_replica(tmp_path, replica, stored, env=env())


def test_vfs_and_follow_mode_read_an_encrypted_s3_replica(moto, tmp_path, replica_prefix):
    bucket = moto.make_bucket()
    key = AgeKey.make(tmp_path / "k.key")
    url = f"s3://{bucket}/{replica_prefix}"
    lines = [
        f"url: {url}",
        f"endpoint: {moto.endpoint}",
        f"access-key-id: {ACCESS_KEY_ID}",
        f"secret-access-key: {SECRET_ACCESS_KEY}",
        *age_block([key], [key]),
    ]
    history = make_history(tmp_path, lines, env=None)
    s3 = moto.boto3_client()
    listing = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert all(
        s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().startswith(INTRO) for o in listing
    )
    check_vfs(url, {**moto.options(), "age": {"identities": [str(key.path)]}}, history)
    check_follow(history, tmp_path)
