"""Go configs with every OSS key, run by both tools against moto behind an OSS front:
what Go starts, we start (litestream_core.testing.config_corpus)."""

from __future__ import annotations

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both

from .conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY

NOT_INHERITED = "part-size: 5MiB\nconcurrency: 2\n"


def indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


@pytest.mark.parametrize("where", ["replica", "top-level", "url"])
def test_every_oss_key(where, oss, bucket, go_litestream, go_env, tmp_path):
    keys = (f"access-key-id: {ACCESS_KEY_ID}\nsecret-access-key: {SECRET_ACCESS_KEY}\n"
            f"region: cn-hangzhou\nendpoint: {oss.endpoint}\n")  # fmt: skip
    db = "dbs:\n  - path: {data}/app.db\n    replica:\n"
    if where == "replica":
        text = db + indent(f"type: oss\nbucket: {bucket}\npath: {{work}}\n{keys}"
                           + NOT_INHERITED, 6)  # fmt: skip
    elif where == "top-level":
        text = keys + db + indent(f"type: oss\nbucket: {bucket}\npath: {{work}}\n"
                                  + NOT_INHERITED, 6)  # fmt: skip
    else:
        text = keys + db + indent(f"url: oss://{bucket}{{work}}\n", 6)
    go, ours = run_both(go_litestream, text, tmp_path, env=go_env)
    assert go.started, go
    assert_starts_like_go(go, ours, where)
    # A URL's path loses its leading slash (as in Go), a path key keeps it.
    keys = [o["Key"] for o in oss.boto3_client().list_objects_v2(Bucket=bucket)["Contents"]]
    written = {key.split(f"/{tmp_path.name}/", 1)[1].split("/")[0]
               for key in keys if f"/{tmp_path.name}/" in key}  # fmt: skip
    assert written == {"go", "ours"}  # each tool replicated to the server
