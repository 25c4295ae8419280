"""An encrypted replica on S3 (moto): the core's shared check, with every object read
back through boto3, as someone who took the bucket would."""

from __future__ import annotations

from litestream_core.testing.encrypted import check_encrypted_replica

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
