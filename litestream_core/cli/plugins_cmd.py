"""``litestream plugins``: what is installed, what loaded, and what went wrong.

The documented way out of a plugin that breaks the CLI is
``LITESTREAM_LOAD_PLUGINS='' litestream plugins``, then uninstalling it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from litestream_core.cli import plugin_manager
from litestream_core.cli.common import echo_table, fail, go_flag, handle_errors

if TYPE_CHECKING:
    from litestream_core.backends import BackendSpec
    from litestream_core.plugins import PluginStatus
    from litestream_core.settings import SettingInfo


def _record(status: PluginStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "distribution": status.distribution,
        "version": status.version,
        "status": status.status,
        "schemes": list(status.schemes),
        "codecs": list(status.codecs),
        "hooks": list(status.hooks),
        "unknown_hooks": list(status.unknown_hooks),
        "builtin": status.builtin,
    }


def _setting_record(info: SettingInfo) -> dict[str, Any]:
    default = info.default
    if info.secret and default:
        default = "***"
    elif isinstance(default, tuple):
        default = list(default)
    return {
        "key": info.key,
        "type": info.type,
        "default": default,
        "help": info.help,
        "secret": info.secret,
        "inherited": info.inherit,
    }


def _backend_record(spec: BackendSpec) -> dict[str, Any]:
    """What ``-verbose`` adds per scheme: the declared keys and capabilities."""
    return {
        "scheme": spec.scheme,
        "plugin": spec.plugin,
        "capabilities": sorted(c.value for c in spec.capabilities or ()),
        "settings": [_setting_record(i) for i in spec.settings.describe()]
        if spec.settings is not None
        else None,
    }


def _print_backends(backends: list[BackendSpec]) -> None:
    for spec in sorted(backends, key=lambda s: s.scheme):
        record = _backend_record(spec)
        capabilities = ", ".join(record["capabilities"]) or "none declared"
        click.echo(f"{spec.scheme}:// ({spec.plugin}); capabilities: {capabilities}")
        if record["settings"] is None:
            click.echo("  declares no settings: Go's keys are passed as they are")
            continue
        rows = []
        for row in record["settings"]:
            notes = [n for n, on in (("secret", row["secret"]), ("not inherited",
                     not row["inherited"])) if on]  # fmt: skip
            help_text = row["help"] + (f" ({', '.join(notes)})" if notes else "")
            default = "" if row["default"] in (None, "", []) else str(row["default"])
            rows.append([row["key"], row["type"], default, help_text])
        echo_table(["KEY", "TYPE", "DEFAULT", "HELP"], rows, indent="  ")


def _print_table(statuses: list[PluginStatus]) -> None:
    """One row per plugin, whole (no truncation: scripts and bug reports need the names)."""
    rows, red = [], []
    for s in sorted(statuses, key=lambda s: (not s.builtin, s.name)):
        status = s.status
        if s.unknown_hooks:
            status += f" (unknown hooks: {', '.join(s.unknown_hooks)})"
        hooks = ", ".join(h.removeprefix("litestream_") for h in s.hooks)
        schemes, codecs = ", ".join(s.schemes), ", ".join(s.codecs)
        rows.append(
            [s.name, s.distribution or "-", s.version or "-", status, schemes, codecs, hooks]
        )
        red.append(not s.ok)
    header = ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "SCHEMES", "CODECS", "HOOKS"]
    echo_table(header, rows, red=red)


def _problems(statuses: list[PluginStatus]) -> list[str]:
    """What ``--check`` fails on: load failures, skew, unknown hooks, conflicts."""
    from litestream_core.errors import PluginError
    from litestream_core.plugins import compressors, replica_client_registry

    problems = [f"{s.name}: {s.status}" for s in statuses if s.status not in ("loaded", "disabled")]
    problems += [
        f"{s.name}: unknown hooks {', '.join(s.unknown_hooks)}" for s in statuses if s.unknown_hooks
    ]
    pm = plugin_manager(click.get_current_context())
    for table in (replica_client_registry, compressors):
        try:
            table(pm)
        except PluginError as exc:
            problems.append(exc.one_line())
    return problems


@click.command("plugins")
@click.option(*go_flag("json"), "as_json", is_flag=True, help="Print JSON records.")
@click.option(
    *go_flag("all"), "show_all", is_flag=True, help="Include the core's built-in plugins."
)
@click.option(
    *go_flag("check"), is_flag=True, help="Exit 1 on load failures, skew, bad hooks or conflicts."
)
@click.option(
    *go_flag("verbose", "-v"),
    is_flag=True,
    help="Also list each backend's config keys and capabilities.",
)
@handle_errors
def command(as_json: bool, show_all: bool, check: bool, verbose: bool) -> None:
    """List installed plugins: distribution, version, status, schemes, codecs, hooks."""
    from litestream_core import plugin_index
    from litestream_core.plugins import plugin_statuses, replica_client_registry

    plugin_index.forget()  # what is installed now, not what an earlier run found
    pm = plugin_manager(click.get_current_context())
    statuses = plugin_statuses(pm)
    shown = [s for s in statuses if show_all or not s.builtin]
    backends = list(replica_client_registry(pm).values()) if verbose else []
    if as_json:
        records = [_record(s) for s in shown]
        if verbose:
            by_plugin: dict[str, list[dict[str, Any]]] = {}
            for spec in backends:
                by_plugin.setdefault(spec.plugin, []).append(_backend_record(spec))
            for record in records:
                record["backends"] = by_plugin.get(record["name"], [])
        click.echo(json.dumps(records, indent=2))
    elif shown:
        _print_table(shown)
        _print_backends(backends)
    else:
        click.echo("No plugins installed.")
    if check and (problems := _problems(statuses)):
        fail(f"{len(problems)} plugin problem(s): {'; '.join(problems)}")
