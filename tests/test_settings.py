"""Backend-declared settings: one declaration gives accepted, typed, listed, redacted keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pytest
from click.testing import CliRunner

from litestream_core.cli import make_cli
from litestream_core.config import parse_config
from litestream_core.errors import ConfigError
from litestream_core.plugins import get_plugin_manager, make_replica_client
from litestream_core.settings import (
    BackendSettings,
    ByteSize,
    Duration,
    Setting,
    SettingError,
    StrList,
)

# A third-party backend as its author writes it: one class of keys, one register call.
ACME_PLUGIN = """
from typing import Annotated

from litestream_core import hookimpl
from litestream_core.client import Capability
from litestream_core.settings import BackendSettings, Duration, Setting


class AcmeKeys(BackendSettings):
    acme_timeout: Annotated[Duration, Setting("request timeout", gt=0)] = 30.0
    acme_token: Annotated[str, Setting("API token", secret=True)] = ""
    acme_zone: Annotated[str, Setting("zone", inherit=False)] = "eu"
    acme_retries: Annotated[int, Setting("attempts per call", ge=1)] = 3


class Client:
    capabilities = frozenset()

    def __init__(self, url, settings):
        self.url = url
        self.settings = settings


@hookimpl
def litestream_register_replica_clients(register):
    register("acme", Client, settings=AcmeKeys, capabilities={Capability.RANGE_READS},
             description="fake backend with its own keys")
"""


@pytest.fixture
def pm(site):
    site("litestream-acme", {"acme": ACME_PLUGIN})
    return get_plugin_manager(only={"acme", "file", "s3"})


def acme_config(replica: str, top: str = "") -> str:
    return f"{top}dbs:\n  - path: /a.db\n    replica:\n      url: acme://b/db\n{replica}"


def test_a_backend_key_is_accepted_typed_and_reaches_the_factory(pm):
    cfg = parse_config(acme_config("      acme-timeout: 2s\n      acme-retries: '5'\n"), pm=pm)
    settings = cfg.dbs[0].replica.settings
    assert type(settings).__name__ == "AcmeKeys"
    assert (settings.acme_timeout, settings.acme_retries, settings.acme_zone) == (2.0, 5, "eu")
    url, options = cfg.dbs[0].replica.replica_url()
    client = make_replica_client(url, options, pm=pm)
    assert type(client.settings).__name__ == "AcmeKeys" and client.settings.acme_timeout == 2.0
    # The capabilities the backend declared are stamped on what the core built.
    assert {c.value for c in client.capabilities} == {"range-reads"}


def test_a_key_no_installed_backend_declares_is_an_error_with_a_suggestion(pm, site):
    with pytest.raises(SettingError) as info:
        parse_config(acme_config("      acme-timout: 2s\n"), source="t.yml", pm=pm)
    assert info.value.one_line() == (
        "t.yml: line 5, column 7: dbs[0].replica: unknown key 'acme-timout' "
        "(did you mean 'acme-timeout'?)"
    )
    assert (info.value.key, info.value.line, info.value.column) == ("acme-timout", 5, 7)
    # Without the plugin installed its key is unknown too: nothing else declares it.
    with pytest.raises(ConfigError, match="unknown key 'acme-timeout'"):
        parse_config(acme_config("      acme-timeout: 2s\n"), pm=get_plugin_manager(only=set()))


@pytest.mark.parametrize(
    ("replica", "message"),
    [
        (
            "      acme-timeout: soon\n",
            "t.yml: line 5, column 7: dbs[0].replica.acme-timeout: invalid duration",
        ),
        ("      acme-timeout: 0s\n", "dbs[0].replica.acme-timeout: must be greater than zero"),
        ("      acme-retries: many\n", "dbs[0].replica.acme-retries: expected an integer"),
        (
            "      acme-retries: 0\n",
            "t.yml: line 5, column 7: dbs[0].replica.acme-retries: must be at least 1",
        ),
    ],
)
def test_bad_values_name_the_key_and_its_position(pm, replica, message):
    with pytest.raises(SettingError) as info:
        parse_config(acme_config(replica), source="t.yml", pm=pm)
    assert message in info.value.one_line()


def test_secrets_never_appear_in_errors_or_reprs(pm):
    with pytest.raises(SettingError) as info:
        parse_config(acme_config("      acme-token: [hunter2, x]\n"), pm=pm)
    assert "hunter2" not in str(info.value) and "'***'" in str(info.value)
    cfg = parse_config(acme_config("      acme-token: hunter2\n"), pm=pm)
    assert "hunter2" not in repr(cfg)
    assert cfg.secrets() == ["hunter2"]


def test_top_level_keys_are_inherited_as_the_backend_declares(pm):
    top = "acme-token: T\nacme-zone: us\nsync-interval: 5s\n"
    cfg = parse_config(acme_config("", top=top), pm=pm)
    replica = cfg.dbs[0].replica
    assert replica.settings.acme_token == "T"  # inheritable
    assert replica.settings.acme_zone == "eu"  # declared inherit=False: not copied
    assert replica.sync_interval == 5.0
    assert replica.options == {"acme-token": "T"}


def test_another_backends_key_on_a_replica_is_a_warning(pm):
    cfg = parse_config(acme_config("      region: eu-west-1\n"), source="t.yml", pm=pm)
    assert cfg.warnings == ("t.yml: dbs[0].replica: 'region' ignored: not a setting of the "
                            "acme backend",)  # fmt: skip
    assert "region" not in cfg.dbs[0].replica.options


def test_go_keys_load_even_when_their_backend_is_not_installed():
    cfg = parse_config(
        "webdav-url: http://h\ndbs:\n  - path: /a.db\n    replica:\n      path: /r\n",
        pm=get_plugin_manager(only={"file"}),
    )
    assert cfg.dbs[0].replica.options == {}


def test_first_party_keys_are_typed_by_their_backend():
    text = (
        "dbs:\n  - path: /a.db\n    replica:\n      type: s3\n      bucket: b\n"
        "      part-size: 10MB\n      skip-verify: true\n"
    )
    settings = parse_config(text, pm=get_plugin_manager(only={"s3"})).dbs[0].replica.settings
    assert (settings.part_size, settings.skip_verify, settings.path) == (10_000_000, True, "")
    with pytest.raises(SettingError, match="concurrency: must be greater than zero"):
        parse_config(text + "      concurrency: 0\n", pm=get_plugin_manager(only={"s3"}))


def test_options_from_a_url_are_checked_by_the_backend_too(pm):
    with pytest.raises(SettingError, match="acme replica: unknown key 'bogus'"):
        make_replica_client("acme://b/db", {"bogus": 1}, pm=pm)


def test_plugins_verbose_lists_keys_with_secrets_marked(pm):
    cli = make_cli(pm)
    result = CliRunner().invoke(cli, ["plugins", "-v"])
    assert result.exit_code == 0, result.output
    assert "acme-timeout" in result.output and "API token (secret)" in result.output
    assert "zone (not inherited)" in result.output
    result = CliRunner().invoke(cli, ["plugins", "--verbose", "--json"])
    [acme] = [r for r in json.loads(result.output) if r["name"] == "acme"]
    [backend] = acme["backends"]
    assert backend["capabilities"] == ["range-reads"]
    keys = {s["key"]: s for s in backend["settings"]}
    assert keys["acme-timeout"] == {
        "key": "acme-timeout", "type": "duration", "default": 30.0, "help": "request timeout",
        "secret": False, "inherited": True,
    }  # fmt: skip
    assert keys["acme-token"]["secret"] is True


class Keys(BackendSettings):
    size: Annotated[ByteSize, Setting("a size")] = 0
    cas: Annotated[StrList, Setting("files")] = ()
    wait: Annotated[Duration | None, Setting("optional wait")] = None
    name: Annotated[str, Setting("text")] = ""
    flag: Annotated[bool, Setting("switch")] = False


def test_value_syntaxes_go_configs_use():
    keys = Keys.from_options(
        {"size": "5MiB", "cas": "a.pem, b.pem", "wait": "1m30s", "name": 1234, "flag": "true"}
    )
    assert (keys.size, keys.cas, keys.wait, keys.name, keys.flag) == (
        5 * 2**20, ("a.pem", "b.pem"), 90.0, "1234", True,
    )  # fmt: skip
    assert Keys.from_options({"cas": ["x"], "wait": None}).as_options() == {
        "size": 0, "cas": ("x",), "name": "", "flag": False,
    }  # fmt: skip
    with pytest.raises(SettingError, match=r"replica\.size: invalid size 'lots'"):
        Keys.from_options({"size": "lots"})


def test_coerce_takes_an_instance_or_the_yaml_keys():
    keys = Keys.from_options({"size": "1KB"})
    assert Keys.coerce(keys) is keys
    assert Keys.coerce({"size": "1KB"}) == keys
    with pytest.raises(SettingError, match="unknown key 'sise'"):
        Keys.coerce({"sise": 1})


def test_log_lines_never_show_a_configured_secret(pm):
    import logging

    from litestream_core.settings import RedactSecrets

    cfg = parse_config(
        acme_config("      acme-token: s3cr3t-token\n")
        + "  - path: /b.db\n    replica:\n      url: acme://user:pa55word@host/db\n",
        pm=pm,
    )
    redact = RedactSecrets(cfg.secrets())
    record = logging.LogRecord("litestream", logging.ERROR, __file__, 1, "auth %s failed: %s",
                               ("s3cr3t-token", "pa55word"), None)  # fmt: skip
    try:
        raise RuntimeError("token s3cr3t-token refused")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert redact.filter(record)
    assert record.getMessage() == "auth *** failed: ***"
    assert "s3cr3t-token" not in record.exc_text and "token *** refused" in record.exc_text


def test_replica_secrets_are_what_the_backend_declares_secret(pm):
    from litestream_core.client import ReplicaURL
    from litestream_core.plugins import replica_secrets

    url = ReplicaURL.parse("acme://user:pa55word@host/db")
    options = {"acme-token": "s3cr3t-token", "acme-zone": "eu"}
    assert replica_secrets(pm, url, options) == ["pa55word", "s3cr3t-token"]


SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins" / "backend-settings.md"


def render_settings_doc() -> str:
    """docs/plugins/backend-settings.md as the first-party backends declare their keys."""
    from litestream_core.plugins import FIRST_PARTY_SCHEMES, replica_client_registry

    registry = replica_client_registry(get_plugin_manager())
    lines = [
        "# Config keys of the first-party backends",
        "",
        "Generated from the settings each backend declares (`register(..., settings=...)`);",
        "`litestream plugins -v` prints the same for whatever is installed. A key marked",
        "*inherited* may also be written at the config's top level, as a default for every",
        "replica of that backend. Regenerate after changing a declaration:",
        "`LITESTREAM_UPDATE_DOCS=1 uv run pytest tests/test_settings.py -k settings_doc`.",
    ]
    for scheme in sorted(FIRST_PARTY_SCHEMES):
        spec = registry.get(scheme)
        if spec is None or spec.settings is None:
            continue
        caps = ", ".join(sorted(c.value for c in spec.capabilities or ())) or "none"
        lines += ["", f"## `{scheme}` ({spec.distribution})", "", f"Capabilities: {caps}.", ""]
        lines += ["| key | type | default | inherited | meaning |", "|---|---|---|---|---|"]
        for info in spec.settings.describe():
            default = "" if info.default in (None, "", ()) else f"`{info.default}`"
            meaning = info.help + (" (secret)" if info.secret else "")
            inherited = "yes" if info.inherit else "no"
            lines.append(f"| `{info.key}` | {info.type} | {default} | {inherited} | {meaning} |")
    return "\n".join(lines) + "\n"


def test_settings_doc_lists_what_the_backends_declare():
    import os

    expected = render_settings_doc()
    if os.environ.get("LITESTREAM_UPDATE_DOCS"):
        SETTINGS_DOC.write_text(expected)
    assert SETTINGS_DOC.read_text() == expected, (
        "docs/plugins/backend-settings.md is out of date: run "
        "LITESTREAM_UPDATE_DOCS=1 uv run pytest tests/test_settings.py -k settings_doc"
    )
