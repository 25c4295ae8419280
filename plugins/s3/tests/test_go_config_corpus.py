"""Go configs with every S3 key, run by both tools against moto: what Go starts, we start
(litestream_core.testing.config_corpus)."""

from __future__ import annotations

import os

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

KEYS = """\
access-key-id: {key_id}
secret-access-key: {secret}
region: us-east-1
endpoint: {endpoint}
force-path-style: true
sign-payload: true
require-content-md5: true
skip-verify: false
storage-class: STANDARD
sign-accept-encoding: false
"""
NOT_INHERITED = "part-size: 5MiB\nconcurrency: 2\n"


def indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


@pytest.mark.parametrize("where", ["replica", "top-level", "url"])
def test_every_s3_key(where, moto, bucket, go_litestream, go_env, tmp_path):
    keys = KEYS.format(key_id=ACCESS_KEY_ID, secret=SECRET_ACCESS_KEY, endpoint=moto.endpoint)
    db = "dbs:\n  - path: {data}/app.db\n    replica:\n"
    if where == "replica":
        text = db + indent(f"type: s3\nbucket: {bucket}\npath: {{work}}\n" + keys
                           + NOT_INHERITED, 6)  # fmt: skip
    elif where == "top-level":
        text = keys + f"bucket: {bucket}\n" + db + indent("type: s3\npath: {work}\n"
                                                          + NOT_INHERITED, 6)  # fmt: skip
    else:  # Go's URL query options
        query = f"endpoint={moto.endpoint}&region=us-east-1&forcePathStyle=true&signPayload=true"
        text = db + indent(f"url: s3://{bucket}{{work}}?{query}\n", 6)
    env = {**go_env, "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
    go, ours = run_both(go_litestream, text, tmp_path, env=env)
    assert go.started, go
    assert_starts_like_go(go, ours, where)


def test_sse_customer_key(moto, bucket, go_litestream, go_env, tmp_path):
    key = tmp_path / "sse.key"
    key.write_text("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    text = "dbs:\n  - path: {data}/app.db\n    replica:\n" + indent(
        f"type: s3\nbucket: {bucket}\npath: {{work}}\nendpoint: {moto.endpoint}\n"
        f"access-key-id: {ACCESS_KEY_ID}\nsecret-access-key: {SECRET_ACCESS_KEY}\n"
        f"sse-customer-algorithm: AES256\nsse-customer-key-path: {key}\n",
        6,
    )
    go, ours = run_both(go_litestream, text, tmp_path, env={**go_env, **os.environ})
    assert_starts_like_go(go, ours, "sse-c")
