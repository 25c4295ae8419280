"""Go configs with every WebDAV key, run by both tools against WsgiDAV: what Go starts,
we start (litestream_core.testing.config_corpus)."""

from __future__ import annotations

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both

from .conftest import PASSWORD, USER


@pytest.mark.parametrize("where", ["replica", "url", "url-and-keys"])
def test_every_webdav_key(where, dav, go_litestream, go_env, tmp_path):
    # Go inherits none of the webdav-* keys from the top level, so all are per replica.
    db = "dbs:\n  - path: {data}/app.db\n    replica:\n"
    host = f"127.0.0.1:{dav.port}"
    if where == "replica":
        body = (f"type: webdav\npath: {tmp_path.name}/{{tool}}\nwebdav-url: {dav.endpoint}\n"
                f"webdav-username: {USER}\nwebdav-password: {PASSWORD}\n")  # fmt: skip
    elif where == "url":
        body = f"url: webdav://{USER}:{PASSWORD}@{host}/{tmp_path.name}/{{tool}}\n"
    else:  # the keys name the login; the URL only the place
        body = (f"url: webdav://{host}/{tmp_path.name}/{{tool}}\n"
                f"webdav-username: {USER}\nwebdav-password: {PASSWORD}\n")  # fmt: skip
    text = db + "".join(f"      {line}\n" for line in body.splitlines())
    go, ours = run_both(go_litestream, text, tmp_path, env=go_env)
    assert go.started, go
    assert_starts_like_go(go, ours, where)
    for tool in ("go", "ours"):  # each wrote its own replica on the server
        assert list((dav.root / tmp_path.name / tool).glob("ltx/0/*.ltx")), tool
