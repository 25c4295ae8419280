"""Go configs with the NATS keys, run by both tools against nats-server: what Go starts,
we start (litestream_core.testing.config_corpus). The login keys (jwt and seed, creds,
nkey, token, user and password, TLS client certificates) each have their own test
against a server configured for them (test_nats_specific, test_go_interop)."""

from __future__ import annotations

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("where", ["replica", "top-level"])
async def test_connection_keys(where, nats_server, bucket, go_litestream, go_env, tmp_path):
    keys = "max-reconnects: 5\nreconnect-wait: 1s\ntimeout: 5s\ntls: false\n"
    db = "dbs:\n  - path: {data}/app.db\n    replica:\n"
    url = f"url: {nats_server.url}/{bucket}\n"
    if where == "replica":
        text = db + "".join(f"      {line}\n" for line in (url + keys).splitlines())
    else:
        text = keys + db + f"      {url}"
    go, ours = run_both(go_litestream, text, tmp_path, env=go_env)
    assert go.started, go
    assert_starts_like_go(go, ours, where)
