"""Plugin discovery and loading, against fake distributions put on sys.path.

Each fake distribution is a real ``.dist-info`` directory (METADATA, entry_points.txt)
beside its module, so ``importlib.metadata`` finds it exactly as it finds an installed
one: discovery, the version check and the entry-point import are the real code paths.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from importlib import metadata

import pytest
from click.testing import CliRunner

from litestream_core import hookimpl
from litestream_core.cli import make_cli
from litestream_core.client import ReplicaURL
from litestream_core.compression import LZ4BlockCompressor
from litestream_core.errors import (
    ConfigError,
    LTXFormatError,
    PluginConflictError,
    PluginIncompatibleError,
    PluginLoadError,
)
from litestream_core.plugins import (
    FIRST_PARTY_SCHEMES,
    compressors,
    get_plugin_manager,
    make_replica_client,
    plugin_statuses,
    replica_client_registry,
)

Site = Callable[..., None]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITESTREAM_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("LITESTREAM_STRICT_PLUGINS", raising=False)


# A plugin module registering one scheme whose client only remembers its URL.
SCHEME_PLUGIN = """
from litestream_core import hookimpl

class Client:
    def __init__(self, url, options):
        self.url = url
        self.options = dict(options)

@hookimpl
def litestream_register_replica_clients(register):
    register({scheme!r}, Client, description="fake backend"{extra})
"""


def status_of(pm, name):
    [status] = [s for s in plugin_statuses(pm) if s.name == name]
    return status


def scheme_plugin(scheme: str, extra: str = "") -> str:
    return SCHEME_PLUGIN.format(scheme=scheme, extra=extra)


def test_discovers_an_installed_plugin_and_builds_its_client(site: Site) -> None:
    site("acme-backend", {"acme": scheme_plugin("acme")}, version="2.3.0")
    pm = get_plugin_manager(only={"acme"})

    status = status_of(pm, "acme")
    assert (status.distribution, status.version, status.status) == (
        "acme-backend",
        "2.3.0",
        "loaded",
    )
    assert status.schemes == ("acme",)
    assert status.hooks == ("litestream_register_replica_clients",)
    assert status.ok

    spec = replica_client_registry(pm)["acme"]
    assert (spec.plugin, spec.distribution, spec.description) == (
        "acme",
        "acme-backend",
        "fake backend",
    )
    client = make_replica_client("acme://bucket/db?x=1", {"region": "r"}, pm=pm)
    assert type(client).__name__ == "Client"
    assert client.url == ReplicaURL.parse("acme://bucket/db?x=1")
    assert client.options == {"region": "r"}


def test_builtin_plugins_are_listed_as_builtin(site: Site) -> None:
    pm = get_plugin_manager(autoload=False)
    builtin = [s for s in plugin_statuses(pm) if s.builtin]
    assert builtin and all(s.distribution == "litestream-core" for s in builtin)
    assert any(s.codecs == ("lz4",) for s in builtin)


def test_load_plugins_env_selects_plugins_and_never_imports_the_others(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site("dist-a", {"pa": scheme_plugin("pa")})
    site("dist-b", {"pb": scheme_plugin("pb")})
    monkeypatch.setenv("LITESTREAM_LOAD_PLUGINS", "pa")
    pm = get_plugin_manager()
    assert status_of(pm, "pa").status == "loaded"
    assert status_of(pm, "pb").status == "disabled"
    assert "fake_dist_b_pb" not in sys.modules
    assert "pb" not in replica_client_registry(pm)

    monkeypatch.setenv("LITESTREAM_LOAD_PLUGINS", "")
    pm = get_plugin_manager()
    assert status_of(pm, "pa").status == "disabled"
    external = [s for s in plugin_statuses(pm) if not s.builtin]
    assert external and all(s.status == "disabled" for s in external)


def test_broken_plugin_warns_once_and_the_others_work(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site("broken-dist", {"broken": "raise RuntimeError('boom at import')\n"})
    site("good-dist", {"good": scheme_plugin("good")})
    pm = get_plugin_manager(only={"broken", "good"})

    warnings = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(warnings) == 1
    assert "broken" in warnings[0] and "RuntimeError: boom at import" in warnings[0]
    assert status_of(pm, "broken").status == "failed: RuntimeError: boom at import"
    assert not status_of(pm, "broken").ok
    assert make_replica_client("good://x", pm=pm).url.scheme == "good"


@pytest.mark.parametrize("how", ["argument", "env"])
def test_strict_mode_makes_a_load_failure_fatal(
    site: Site, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    site("broken-dist", {"broken": "import no_such_module_anywhere\n"})
    if how == "env":
        monkeypatch.setenv("LITESTREAM_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError) as info:
        get_plugin_manager(only={"broken"}, strict=True if how == "argument" else None)
    assert info.value.plugin_name == "broken"
    assert info.value.distribution == "broken-dist"
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_incompatible_plugin_is_skipped_before_import(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    # Importing this module would fail loudly; the version check must come first.
    site(
        "old-dist",
        {"old": "raise AssertionError('imported despite skew')\n"},
        version="0.0.1",
        requires=("litestream-core<0.1", "click"),
    )
    pm = get_plugin_manager(only={"old"})
    core = metadata.version("litestream-core")
    status = status_of(pm, "old")
    assert status.status.startswith("skipped: incompatible")
    assert f"old-dist 0.0.1 requires litestream-core<0.1; {core} is installed" in status.status
    assert "fake_old_dist_old" not in sys.modules
    assert "requires litestream-core<0.1" in capsys.readouterr().err

    with pytest.raises(PluginIncompatibleError, match=r"requires litestream-core<0\.1"):
        get_plugin_manager(only={"old"}, strict=True)


def test_requirement_behind_an_extra_does_not_count(site: Site) -> None:
    site("extra-dist", {"ex": scheme_plugin("ex")}, requires=('litestream-core<0.1; extra == "x"',))
    assert status_of(get_plugin_manager(only={"ex"}), "ex").status == "loaded"


MISSPELLED = """
from litestream_core import hookimpl

@hookimpl
def litestream_register_replica_client(register):
    register("never", object)
"""


def test_misspelled_hook_is_reported(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site("typo-dist", {"typo": MISSPELLED})
    pm = get_plugin_manager(only={"typo"})
    assert status_of(pm, "typo").unknown_hooks == ("litestream_register_replica_client",)
    assert not status_of(pm, "typo").ok
    assert "litestream_register_replica_client" in capsys.readouterr().err

    with pytest.raises(PluginLoadError, match="litestream_register_replica_client"):
        get_plugin_manager(only={"typo"}, strict=True)


def test_same_scheme_from_two_plugins_is_a_conflict_naming_both(site: Site) -> None:
    site("one-dist", {"one": scheme_plugin("dup")})
    site("two-dist", {"two": scheme_plugin("dup")})
    pm = get_plugin_manager(only={"one", "two"})
    with pytest.raises(PluginConflictError) as info:
        replica_client_registry(pm)
    message = info.value.one_line()
    assert "'dup'" in message
    assert "one-dist" in message and "two-dist" in message


def test_override_replaces_a_scheme_and_is_shown(site: Site) -> None:
    site("one-dist", {"one": scheme_plugin("dup")})
    site("two-dist", {"two": scheme_plugin("dup", extra=", override=True")})
    pm = get_plugin_manager(only={"one", "two"})
    spec = replica_client_registry(pm)["dup"]
    assert (spec.plugin, spec.overrides) == ("two", "one")
    assert status_of(pm, "two").schemes == ("dup (override)",)


def test_same_entry_point_name_from_another_distribution_is_ignored_with_a_warning(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site("first-dist", {"same": scheme_plugin("first")})
    site("second-dist", {"same": scheme_plugin("second")})
    pm = get_plugin_manager(only={"same"})
    registry = replica_client_registry(pm)
    # importlib.metadata does not promise an order across distributions; one wins.
    assert len({"first", "second"} & set(registry)) == 1
    assert "already taken" in capsys.readouterr().err


def test_plugin_raising_in_a_registration_hook_is_isolated(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = """
    from litestream_core import hookimpl

    @hookimpl
    def litestream_register_replica_clients(register):
        raise ValueError("bad config")
    """
    site("bad-dist", {"bad": bad})
    site("good-dist", {"good": scheme_plugin("good")})
    pm = get_plugin_manager(only={"bad", "good"})
    assert set(replica_client_registry(pm)) == {"good"}
    assert status_of(pm, "bad").status == "failed: ValueError: bad config"
    assert "bad config" in capsys.readouterr().err


def test_unknown_first_party_scheme_names_the_distribution(site: Site) -> None:
    site("acme-backend", {"acme": scheme_plugin("acme")})
    pm = get_plugin_manager(only={"acme"})
    for scheme, dist in FIRST_PARTY_SCHEMES.items():
        if scheme == "file":
            continue
        with pytest.raises(ConfigError) as info:
            make_replica_client(f"{scheme}://bucket/path", pm=pm)
        line = info.value.one_line()
        assert "\n" not in line
        assert f"pip install {dist}" in line
        assert "installed schemes: acme" in line


def test_completely_unknown_scheme_says_so(site: Site) -> None:
    pm = get_plugin_manager(autoload=False)
    with pytest.raises(ConfigError, match="unknown replica URL scheme 'zzz'"):
        make_replica_client("zzz://x/y", pm=pm)


def test_plain_path_is_a_file_url_and_needs_the_file_plugin() -> None:
    pm = get_plugin_manager(autoload=False)
    with pytest.raises(ConfigError, match="litestream-file"):
        make_replica_client("/var/backups/db", pm=pm)


class _Wrapped:
    def __init__(self, inner: object) -> None:
        self.inner = inner


def test_tryfirst_and_wrapper_implementations_shape_client_construction(site: Site) -> None:
    site("acme-backend", {"acme": scheme_plugin("acme")})
    pm = get_plugin_manager(only={"acme"})

    class Decorate:
        @hookimpl(wrapper=True)
        def litestream_make_replica_client(self):
            client = yield
            return _Wrapped(client)

    class TakeOver:
        @hookimpl(tryfirst=True)
        def litestream_make_replica_client(self, url):
            return ("special", url.host) if url.host == "special" else None

    pm.register(Decorate())
    pm.register(TakeOver())
    ordinary = make_replica_client("acme://bucket/x", pm=pm)
    assert isinstance(ordinary, _Wrapped) and type(ordinary.inner).__name__ == "Client"
    special = make_replica_client("acme://special/x", pm=pm)
    assert isinstance(special, _Wrapped) and special.inner == ("special", "special")


def test_plugins_registered_later_are_seen_by_the_registry() -> None:
    pm = get_plugin_manager(autoload=False)
    assert "late" not in replica_client_registry(pm)

    class Late:
        @hookimpl
        def litestream_register_replica_clients(self, register):
            register("late", lambda url, options: ("late", url.path))

    pm.register(Late(), name="late-plugin")
    assert make_replica_client("late:///p", pm=pm) == ("late", "/p")
    assert status_of(pm, "late-plugin").schemes == ("late",)


# -- Codecs ----------------------------------------------------------------------------


def test_lz4_codec_round_trips_a_page_as_a_raw_block() -> None:
    import lz4.block

    codec = compressors(get_plugin_manager(autoload=False))["lz4"]
    page = bytes(range(256)) * 8 + b"\0" * 2048
    packed = codec.compress(page)
    # A raw block: the reference decoder needs the size from outside.
    assert lz4.block.decompress(packed, uncompressed_size=len(page)) == page
    assert codec.decompress(packed, max_size=len(page)) == page
    assert codec.decompress(packed) == page
    assert codec.decompress(codec.compress(b"\0" * 65536)) == b"\0" * 65536


def test_lz4_codec_rejects_corrupt_input() -> None:
    with pytest.raises(LTXFormatError):
        LZ4BlockCompressor().decompress(b"\xff\xff\xff\xff")


def test_codec_name_conflict_and_override(site: Site) -> None:
    fast = """
    from litestream_core import hookimpl
    from litestream_core.compression import LZ4BlockCompressor

    class Fast(LZ4BlockCompressor):
        pass

    @hookimpl
    def litestream_register_compressors(register):
        register("lz4", Fast(){extra})
    """
    site("fast-dist", {"fast": fast.format(extra="")})
    with pytest.raises(PluginConflictError, match="'lz4'"):
        compressors(get_plugin_manager(only={"fast"}))
    site("faster-dist", {"faster": fast.format(extra=", override=True")})
    codec = compressors(get_plugin_manager(only={"faster"}))["lz4"]
    assert type(codec).__name__ == "Fast"


# -- The plugins command and plugin commands -------------------------------------------

COMMAND_PLUGIN = """
import click
from litestream_core import hookimpl

@hookimpl
def litestream_add_cli_commands(cli):
    @cli.command()
    def hello():
        "Say hello from a plugin."
        click.echo("hello from a plugin")

    @cli.command("version")
    def hijack():
        click.echo("hijacked")
"""


def test_plugin_adds_commands_but_cannot_replace_core_ones(site: Site) -> None:
    site("cmd-dist", {"cmd": COMMAND_PLUGIN})
    cli = make_cli(get_plugin_manager(only={"cmd"}))
    runner = CliRunner()
    result = runner.invoke(cli, ["hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from a plugin\n"
    assert "Say hello from a plugin." in runner.invoke(cli, ["--help"]).output
    version = runner.invoke(cli, ["version"])
    assert version.output.strip() == metadata.version("litestream-core")


def test_plugins_command_json_lists_each_plugin(site: Site) -> None:
    site("acme-backend", {"acme": scheme_plugin("acme")}, version="2.3.0")
    site("broken-dist", {"broken": "raise ImportError('missing native lib')\n"})
    pm = get_plugin_manager(only={"acme", "broken"})
    result = CliRunner().invoke(make_cli(pm), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert records["acme"]["distribution"] == "acme-backend"
    assert records["acme"]["version"] == "2.3.0"
    assert records["acme"]["status"] == "loaded"
    assert records["acme"]["schemes"] == ["acme"]
    assert records["acme"]["hooks"] == ["litestream_register_replica_clients"]
    assert records["broken"]["status"] == "failed: ImportError: missing native lib"
    assert not any(r["builtin"] for r in records.values())

    with_builtin = CliRunner().invoke(make_cli(pm), ["plugins", "-json", "-all"])
    assert any(r["builtin"] for r in json.loads(with_builtin.stdout))


def test_plugins_command_table_shows_status(site: Site) -> None:
    site("acme-backend", {"acme": scheme_plugin("acme")}, version="2.3.0")
    result = CliRunner().invoke(make_cli(get_plugin_manager(only={"acme"})), ["plugins"])
    assert result.exit_code == 0
    assert "acme" in result.stdout and "2.3.0" in result.stdout and "loaded" in result.stdout


@pytest.mark.parametrize(
    ("dists", "problem"),
    [
        ({"broken": "raise RuntimeError('x')\n"}, "failed: RuntimeError"),
        ({"typo": MISSPELLED}, "unknown hooks litestream_register_replica_client"),
        ({"one": scheme_plugin("dup"), "two": scheme_plugin("dup")}, "registered by both"),
    ],
)
def test_plugins_check_fails_on_each_kind_of_problem(
    site: Site, dists: dict[str, str], problem: str
) -> None:
    for name, source in dists.items():
        site(f"{name}-dist", {name: source})
    pm = get_plugin_manager(only=set(dists))
    result = CliRunner().invoke(make_cli(pm), ["plugins", "--check"])
    assert result.exit_code == 1
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert problem in error


def test_plugins_check_passes_when_all_is_well(site: Site) -> None:
    site("acme-backend", {"acme": scheme_plugin("acme")})
    result = CliRunner().invoke(make_cli(get_plugin_manager(only={"acme"})), ["plugins", "--check"])
    assert result.exit_code == 0, result.output


def test_make_replica_client_uses_the_default_manager_when_none_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import litestream_core.plugins as plugins

    pm = get_plugin_manager(autoload=False)
    monkeypatch.setattr(plugins, "_default_pm", pm)
    assert plugins.default_plugin_manager() is pm
    with pytest.raises(ConfigError, match="'zzz'"):
        make_replica_client("zzz://a")
