"""Go configs with every SFTP key, run by both tools against OpenSSH's sshd: what Go
starts, we start (litestream_core.testing.config_corpus)."""

from __future__ import annotations

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both


@pytest.mark.parametrize("where", ["replica", "top-level", "url"])
def test_every_sftp_key(where, sshd, go_litestream, go_env, tmp_path):
    inherited = (
        f"host: 127.0.0.1:{sshd.port}\nuser: {sshd.user}\nkey-path: {sshd.client_key}\n"
        "concurrent-writes: true\n"
    )
    host_key = f"host-key: {sshd.host_key}\n"  # Go does not inherit it
    db = "dbs:\n  - path: {data}/app.db\n    replica:\n"
    if where == "replica":
        body = "type: sftp\npath: {work}/replica\n" + inherited + host_key
        text = db + "".join(f"      {line}\n" for line in body.splitlines())
    elif where == "top-level":
        text = (
            inherited
            + db
            + "".join(
                f"      {line}\n"
                for line in ("type: sftp\npath: {work}/replica\n" + host_key).splitlines()
            )
        )
    else:
        url = sshd.url("{work}/replica")
        body = f"url: {url}\nkey-path: {sshd.client_key}\n" + host_key
        text = db + "".join(f"      {line}\n" for line in body.splitlines())
    go, ours = run_both(go_litestream, text, tmp_path, env=go_env)
    assert go.started, go
    assert_starts_like_go(go, ours, where)


def test_password_keys(password_sshd, password_login, go_litestream, go_env, tmp_path):
    """`user` and `password` at the top level (inherited), the host key per replica."""
    login = password_login
    text = (
        f"host: 127.0.0.1:{password_sshd.port}\nuser: {login.user}\npassword: {login.password}\n"
        "dbs:\n  - path: {data}/app.db\n    replica:\n      type: sftp\n"
        f"      path: {login.root}/{tmp_path.name}/{{tool}}\n"
        f"      host-key: {password_sshd.host_key}\n"
    )
    go, ours = run_both(go_litestream, text, tmp_path, env=go_env)
    assert go.started, go
    assert_starts_like_go(go, ours, "password")
    for tool in ("go", "ours"):
        assert list((login.root / tmp_path.name / tool).glob("ltx/0/*.ltx")), tool
