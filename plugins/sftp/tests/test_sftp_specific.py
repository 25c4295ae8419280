"""SFTP-only behaviour: URL and config keys, host keys, credentials, reconnects."""

from __future__ import annotations

import pytest
from litestream_sftp.config import resolve_config

from litestream_core.client import ReplicaURL
from litestream_core.errors import (
    ConfigError,
    LTXNotFoundError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.plugins import make_replica_client
from litestream_core.testing import make_ltx_bytes

pytestmark = pytest.mark.anyio


def resolve(url: str, **options):
    return resolve_config(ReplicaURL.parse(url), options)


# -- URL and config keys ----------------------------------------------------------------


def test_url_with_user_password_port_and_path():
    config = resolve("sftp://alice:p%40ss@example.com:2222/backups/db")
    assert (config.host, config.port, config.user, config.password, config.path) == (
        "example.com",
        2222,
        "alice",
        "p@ss",
        "/backups/db",
    )
    assert "p@ss" not in repr(config)


def test_url_port_defaults_to_22():
    config = resolve("sftp://bob@example.com/db")
    assert (config.port, config.known_hosts_name) == (22, "example.com")


def test_ipv6_host():
    config = resolve("sftp://bob@[::1]:2200/db")
    assert (config.host, config.port, config.known_hosts_name) == ("::1", 2200, "[::1]:2200")


def test_config_keys_without_url():
    # As the core passes a `type: sftp` block: no host in the URL, keys in options.
    url = ReplicaURL(scheme="sftp", path="/data/db", raw="sftp:///data/db")
    config = resolve_config(
        url,
        {
            "host": "h.example:2022",
            "user": "u",
            "password": "pw",
            "key-path": "~/id_ed25519",
            "host-key": "ssh-ed25519 AAAA",
            "concurrent-writes": False,
        },
    )
    assert (config.host, config.port, config.user, config.path) == (
        "h.example",
        2022,
        "u",
        "/data/db",
    )
    assert config.key_path.endswith("/id_ed25519") and not config.key_path.startswith("~")
    assert config.host_key == "ssh-ed25519 AAAA"
    assert config.concurrent_writes is False


def test_config_keys_win_over_url_userinfo():
    config = resolve("sftp://urluser:urlpass@h/db", user="keyuser", password="keypass")
    assert (config.user, config.password) == ("keyuser", "keypass")


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("sftp://user@h/db", {"host": "other"}, "cannot specify url & host"),
        ("sftp:///db", {"user": "u"}, "host required"),
        ("sftp://h/db", {}, "user required"),
        ("sftp:///db", {"user": "u", "host": "h:99999"}, "port"),
        ("sftp://u@h/db", {"skip-verify": "maybe"}, "skip-verify"),
    ],
)
def test_bad_settings_are_config_errors(url, options, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(ReplicaURL.parse(url), options)


def test_skip_verify_from_url_query():
    assert resolve("sftp://u@h/db?skip-verify=true").skip_verify is True
    assert resolve("sftp://u@h/db").skip_verify is False


# -- Host keys ----------------------------------------------------------------------------


async def _list(client):
    return [info async for info in client.ltx_files(0)]


async def test_host_key_mismatch_is_refused(sshd, tmp_path, stranger_key):
    other = stranger_key[1]
    client = make_replica_client(
        ReplicaURL.parse(sshd.url(tmp_path)), sshd.options(**{"host-key": other})
    )
    with pytest.raises(ReplicaPermissionError, match="host key mismatch") as info:
        await client.init()
    assert "\n" not in info.value.one_line()
    await client.close()


async def test_unknown_host_is_refused_unless_opted_out(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    options = {"key-path": str(sshd.client_key), "known-hosts-path": str(known_hosts)}
    url = ReplicaURL.parse(sshd.url(tmp_path / "replica"))
    client = make_replica_client(url, options)
    with pytest.raises(ReplicaPermissionError, match="unknown") as info:
        await client.init()
    assert "skip-verify" in info.value.one_line()
    await client.close()

    async with make_replica_client(url, {**options, "skip-verify": True}) as insecure:
        assert await _list(insecure) == []


async def test_known_hosts_entry_is_accepted(sshd, tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key}\n")
    options = {"key-path": str(sshd.client_key), "known-hosts-path": str(known_hosts)}
    async with make_replica_client(ReplicaURL.parse(sshd.url(tmp_path / "r")), options) as client:
        assert await _list(client) == []


async def test_known_hosts_with_other_key_is_a_mismatch(sshd, tmp_path, stranger_key):
    known_hosts = tmp_path / "known_hosts"
    other = stranger_key[1]
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {other}")
    options = {"key-path": str(sshd.client_key), "known-hosts-path": str(known_hosts)}
    client = make_replica_client(ReplicaURL.parse(sshd.url(tmp_path / "r")), options)
    with pytest.raises(ReplicaPermissionError, match="mismatch"):
        await client.init()
    await client.close()


# -- Credentials --------------------------------------------------------------------------


async def test_auth_failure_is_one_line_without_the_secret(sshd, tmp_path, stranger_key):
    secret = "hunter2-very-secret"
    url = ReplicaURL.parse(
        f"sftp://{sshd.user}:{secret}@127.0.0.1:{sshd.port}{tmp_path / 'replica'}"
    )
    options = {"host-key": sshd.host_key, "key-path": str(stranger_key[0])}
    client = make_replica_client(url, options)
    with pytest.raises(ReplicaPermissionError, match="authentication failed") as info:
        await client.init()
    line = info.value.one_line()
    assert secret not in line and "\n" not in line
    assert secret not in repr(client)
    await client.close()


async def test_missing_key_file_is_a_config_error(sshd, tmp_path):
    options = sshd.options(**{"key-path": str(tmp_path / "nope")})
    client = make_replica_client(ReplicaURL.parse(sshd.url(tmp_path)), options)
    with pytest.raises(ConfigError, match="key path"):
        await client.init()
    await client.close()


# -- Layout and reconnects ---------------------------------------------------------------


async def test_files_use_go_layout_and_mtime(sshd, tmp_path):
    root = sshd.root / "layout"
    data = make_ltx_bytes(3, 4, timestamp_ms=1_650_000_000_250)
    async with make_replica_client(ReplicaURL.parse(sshd.url(root)), sshd.options()) as client:
        await client.write_ltx_file(9, 3, 4, data)
    path = root / "ltx" / "9" / "0000000000000003-0000000000000004.ltx"
    assert path.read_bytes() == data
    assert path.stat().st_mtime == 1_650_000_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


async def test_server_restart_gives_transient_error_then_reconnects(private_sshd):
    server = private_sshd
    data = make_ltx_bytes(1, 1, pages=40)
    url = ReplicaURL.parse(server.url(server.root / "restart"))
    async with make_replica_client(url, server.options()) as client:
        await client.write_ltx_file(0, 1, 1, data)
        stream = await client.open_ltx_file(0, 1, 1)
        assert len(await stream.read(10)) == 10

        server.stop()
        with pytest.raises(TransientReplicaError):
            await _list(client)
        with pytest.raises(TransientReplicaError):  # still down: connecting fails
            await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))

        server.start()
        with pytest.raises(TransientReplicaError):  # a stream of the old session
            await stream.read(10)
        await stream.aclose()
        assert [i.max_txid for i in await _list(client)] == [1]
        await client.write_ltx_file(0, 2, 2, make_ltx_bytes(2, 2))
        assert [i.max_txid for i in await _list(client)] == [1, 2]
        reread = await client.open_ltx_file(0, 1, 1)
        async with reread:
            assert await reread.readall() == data
        with pytest.raises(LTXNotFoundError):
            await client.open_ltx_file(0, 5, 5)


async def test_unwritable_path_is_a_plain_error_not_missing_or_transient(sshd):
    blocker = sshd.root / "a-file"
    blocker.write_text("not a directory")
    url = ReplicaURL.parse(sshd.url(blocker / "replica"))
    async with make_replica_client(url, sshd.options()) as client:
        with pytest.raises(ReplicaClientError) as info:
            await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert not isinstance(info.value, LTXNotFoundError | TransientReplicaError)
        assert await _list(client) == []  # the session is still fine


async def test_password_login_from_key_and_from_url(password_sshd, password_login):
    login = password_login
    base = f"127.0.0.1:{password_sshd.port}{login.root}"
    host_key = {"host-key": password_sshd.host_key}
    keyed = ReplicaURL.parse(f"sftp://{login.user}@{base}/by-key")
    async with make_replica_client(keyed, {**host_key, "password": login.password}) as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert [i.max_txid async for i in client.ltx_files(0)] == [1]
    in_url = ReplicaURL.parse(f"sftp://{login.user}:{login.password}@{base}/by-url")
    async with make_replica_client(in_url, host_key) as client:
        await client.write_ltx_file(0, 1, 1, make_ltx_bytes(1, 1))
        assert [i.max_txid async for i in client.ltx_files(0)] == [1]
    assert (login.root / "by-key" / "ltx" / "0").is_dir()

    wrong = make_replica_client(keyed, {**host_key, "password": login.password + "x"})
    with pytest.raises(ReplicaPermissionError) as info:
        await wrong.init()
    assert login.password not in info.value.one_line()
    await wrong.close()
