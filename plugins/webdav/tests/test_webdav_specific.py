"""What the shared suite does not cover: Go's URL and key rules, errors, temporary files."""

from __future__ import annotations

import anyio
import pytest
from litestream_webdav.settings import settings_from

from litestream_core.client import ReplicaURL
from litestream_core.errors import (
    ConfigError,
    ReplicaClientError,
    ReplicaPermissionError,
    TransientReplicaError,
)
from litestream_core.plugins import make_replica_client
from litestream_core.testing.ltxgen import make_ltx_bytes
from litestream_core.testing.servers import free_port
from litestream_core.testing.suite.large import large_ltx

pytestmark = pytest.mark.anyio


def test_url_forms_follow_go():
    plain = settings_from(ReplicaURL.parse("webdav://u:p%40ss@dav.example:8080/backups/db"), {})
    assert (plain.server, plain.path, plain.username, plain.password) == (
        "http://dav.example:8080",
        "/backups/db",
        "u",
        "p@ss",
    )
    assert plain.file_path(9, 1, 2) == "/backups/db/ltx/9/0000000000000001-0000000000000002.ltx"
    tls = settings_from(ReplicaURL.parse("webdavs://dav.example/db"), {})
    assert tls.server == "https://dav.example"
    # Config keys win over the URL's user and password, as in Go.
    keyed = settings_from(
        ReplicaURL.parse("webdav://u:p@dav.example/db"),
        {"webdav-username": "k", "webdav-password": "kp"},
    )
    assert (keyed.username, keyed.password) == ("k", "kp")
    timed = settings_from(ReplicaURL.parse("webdav://dav.example/db"), {"timeout": "2500ms"})
    assert (plain.timeout, timed.timeout) == (30.0, 2.5)  # Go's 30 s unless set


def test_config_form_needs_webdav_url_and_keeps_its_root():
    url = ReplicaURL(scheme="webdav", path="db", raw="webdav:///db")
    with pytest.raises(ConfigError, match="webdav-url required"):
        settings_from(url, {"path": "db"})
    s = settings_from(url, {"path": "db", "webdav-url": "https://dav.example/remote.php/dav/"})
    assert s.url(s.file_path(0, 1, 1)) == (
        "https://dav.example/remote.php/dav/db/ltx/0/0000000000000001-0000000000000001.ltx"
    )
    with pytest.raises(ConfigError, match="cannot specify url & webdav-url"):
        settings_from(ReplicaURL.parse("webdav://dav.example/db"), {"webdav-url": "http://x"})
    with pytest.raises(ConfigError, match="host required"):
        settings_from(ReplicaURL.parse("webdav:///db"), {})


def test_password_stays_out_of_repr():
    s = settings_from(ReplicaURL.parse("webdav://u:hunter2@dav.example/db"), {})
    assert "hunter2" not in repr(s)


async def test_wrong_password_is_a_permission_error_without_the_password(dav):
    url = dav.url("denied").replace(dav.options()["webdav-password"], "wrong-password")
    client = make_replica_client(url, {})
    with pytest.raises(ReplicaPermissionError) as info:
        await client.init()
    message = str(info.value)
    assert "\n" not in message and "wrong-password" not in message
    assert "denied" in message and "litestream" in message  # names the user
    await client.close()


async def test_unreachable_server_is_transient():
    client = make_replica_client(f"webdav://127.0.0.1:{free_port()}/db", {})
    with pytest.raises(TransientReplicaError):
        await client.init()
    await client.close()


async def test_cancelled_upload_leaves_no_temporary_file(dav, replica_prefix):
    """Cancelled while the PUT of the temporary file is under way: it is removed."""
    data = large_ltx(3 * 8 * 1024 * 1024 + 1, 2, 2, 7)
    level_dir = dav.root / replica_prefix / "ltx" / "0"
    async with make_replica_client(dav.url(replica_prefix), {}) as client:
        await client.write_ltx_file(0, 3, 3, make_ltx_bytes(3, 3))  # the directory exists
        with anyio.move_on_after(5) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.write_ltx_file, 0, 2, 2, data)
                with anyio.fail_after(5):  # the temporary file appears on the server...
                    while not any(p.suffix == ".tmp" for p in level_dir.iterdir()):
                        await anyio.sleep(0.005)
                tg.cancel_scope.cancel()  # ...and the upload is cancelled halfway
        assert not scope.cancelled_caught
    names = sorted(p.name for p in level_dir.iterdir())
    assert names == ["0000000000000003-0000000000000003.ltx"]


async def _round_trip(url: str) -> None:
    data = make_ltx_bytes(1, 2, pages=3)
    async with make_replica_client(url, {}) as client:
        await client.write_ltx_file(0, 1, 2, data)
        stream = await client.open_ltx_file(0, 1, 2)
        async with stream:
            assert await stream.readall() == data


async def test_digest_authentication_when_the_server_asks_for_it(digest_dav):
    await _round_trip(digest_dav.url("digest"))


async def test_webdavs_verifies_the_certificate(tls_dav, monkeypatch):
    url = tls_dav.url("tls")
    assert url.startswith("webdavs://")
    client = make_replica_client(url, {})
    with pytest.raises(ReplicaClientError) as info:
        await client.init()
    assert not isinstance(info.value, TransientReplicaError)  # retrying cannot fix it
    assert "certificate" in str(info.value) and "SSL_CERT_FILE" in (info.value.hint or "")
    await client.close()
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_dav.certificate))
    await _round_trip(url)


async def test_abandoned_temporary_files_are_swept(dav, replica_prefix):
    """What a killed uploader left is removed at start; a live upload's file is not."""
    import os
    import time

    from litestream_core.backend_support.tempfiles import temp_name

    level_dir = dav.root / replica_prefix / "ltx" / "0"
    level_dir.mkdir(parents=True)
    name = "0000000000000001-0000000000000001.ltx"
    # This host's name, with a writer process that no longer exists.
    dead = level_dir / temp_name(name).replace(f"~{os.getpid()}.", "~999999999.")
    old = level_dir / f".{name}.elsewhere~42.def456.tmp"
    live = level_dir / f".{name}.elsewhere~43.0a1b2c.tmp"
    ours = level_dir / temp_name(name)
    for path in (dead, old, live, ours):
        path.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    async with make_replica_client(dav.url(replica_prefix), {}) as client:
        assert await client.remove_stale_temp_files() == 2
        assert await client.remove_stale_temp_files() == 0
    assert sorted(p.name for p in level_dir.iterdir()) == sorted([live.name, ours.name])
