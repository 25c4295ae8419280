"""``litestream plugins``: what is installed, what loaded, and what went wrong.

The documented way out of a plugin that breaks the CLI is
``LITESTREAM_LOAD_PLUGINS='' litestream plugins``, then uninstalling it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from litestream_core.cli import plugin_manager
from litestream_core.cli.common import fail, go_flag, handle_errors

if TYPE_CHECKING:
    from litestream_core.plugins import PluginStatus


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


def _print_table(statuses: list[PluginStatus]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("Plugin", "Distribution", "Version", "Status", "Schemes", "Codecs", "Hooks")
    for s in sorted(statuses, key=lambda s: (not s.builtin, s.name)):
        status = s.status
        if s.unknown_hooks:
            status += f" (unknown hooks: {', '.join(s.unknown_hooks)})"
        style = None if s.ok else "red"
        table.add_row(
            s.name,
            s.distribution or "-",
            s.version or "-",
            status,
            ", ".join(s.schemes),
            ", ".join(s.codecs),
            "\n".join(h.removeprefix("litestream_") for h in s.hooks),
            style=style,
        )
    console = Console()
    if not console.is_terminal:
        # Piped output has no width to respect; squeezing it into 80 columns would
        # truncate names that scripts and bug reports need whole.
        console = Console(width=240)
    console.print(table)


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
@handle_errors
def command(as_json: bool, show_all: bool, check: bool) -> None:
    """List installed plugins: distribution, version, status, schemes, codecs, hooks."""
    from litestream_core.plugins import plugin_statuses

    statuses = plugin_statuses(plugin_manager(click.get_current_context()))
    shown = [s for s in statuses if show_all or not s.builtin]
    if as_json:
        click.echo(json.dumps([_record(s) for s in shown], indent=2))
    elif shown:
        _print_table(shown)
    else:
        click.echo("No plugins installed.")
    if check and (problems := _problems(statuses)):
        fail(f"{len(problems)} plugin problem(s): {'; '.join(problems)}")
