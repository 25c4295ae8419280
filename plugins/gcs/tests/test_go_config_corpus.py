"""Go configs with every GCS key, run by both tools against fake-gcs-server: what Go
starts, we start (litestream_core.testing.config_corpus)."""

from __future__ import annotations

import os

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both


@pytest.mark.parametrize(
    "replica",
    [
        "      type: gs\n      bucket: {bucket}\n      path: {work}\n",
        "      url: gs://{bucket}{work}\n",
    ],
)
def test_every_gcs_key(replica, gcs, bucket, go_litestream, go_env, tmp_path):
    text = "dbs:\n  - path: {data}/app.db\n    replica:\n" + replica.replace("{bucket}", bucket)
    env = {**go_env, "STORAGE_EMULATOR_HOST": os.environ["STORAGE_EMULATOR_HOST"]}
    go, ours = run_both(go_litestream, text, tmp_path, env=env)
    assert go.started, go
    assert_starts_like_go(go, ours)
