"""The ``litestream`` command line.

Commands live one per module and are imported only when invoked, so ``litestream
--help`` stays fast and never imports a cloud SDK. Go Litestream's flag syntax
(``-config``, ``-o=PATH``, ``-force=false``) is accepted beside click's ``--config``:
``goflags`` rewrites each command's arguments before click parses them. Errors look
like Go's: ``Error: ...`` on one line, exit status 1.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from litestream_core._version import __version__

if TYPE_CHECKING:
    import pluggy

# command name -> "module:attribute" of its click.Command; a command's module is
# imported only when that command runs or its help is shown.
COMMANDS: dict[str, tuple[str, str]] = {
    "replicate": ("litestream_core.cli.replicate", "Replicate SQLite databases continuously"),
    "restore": ("litestream_core.cli.restore", "Restore a database from a replica"),
    "plugins": ("litestream_core.cli.plugins_cmd", "List installed plugins and their status"),
    "version": ("litestream_core.cli.version", "Print the version"),
    "ltx": ("litestream_core.cli.ltx", "List a database's LTX files per level"),
    "databases": ("litestream_core.cli.databases", "List databases and replica positions"),
    "verify": ("litestream_core.cli.verify", "Prove a replica's chains; list restorable points"),
    "query": ("litestream_core.cli.query", "Run a read-only SQL query against a replica"),
    "status": ("litestream_core.cli.status", "Show local replication status of databases"),
    "reset": ("litestream_core.cli.reset", "Remove a database's local LTX state"),
    # Runtime control of a running daemon, through its control socket.
    "info": ("litestream_core.cli.info", "Show information about a running daemon"),
    "list": ("litestream_core.cli.list_cmd", "List the databases of a running daemon"),
    "sync": ("litestream_core.cli.sync", "Force a sync of a database in a running daemon"),
    "start": ("litestream_core.cli.start", "Start replicating a database in a running daemon"),
    "stop": ("litestream_core.cli.stop", "Stop replicating a database in a running daemon"),
    "register": ("litestream_core.cli.register", "Add a database to a running daemon"),
    "unregister": ("litestream_core.cli.unregister", "Remove a database from a running daemon"),
}

DEPRECATED_ALIASES = {"wal": "ltx"}
"""Go's old command names: they still run, with a warning, and are not listed."""

PLUGIN_MANAGER_KEY = "litestream.plugin_manager"
"""Where commands find the plugin manager the CLI was built with (``ctx.meta``)."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use.

    Core commands win over plugin commands of the same name, so a plugin cannot
    replace ``replicate`` or ``restore``.
    """

    plugin_manager: Callable[[], pluggy.PluginManager] | None = None
    """Where plugins' commands come from; asked only when a name outside ``COMMANDS``
    is needed, so ``version`` or ``restore`` start without discovering plugins."""
    _plugin_commands_added = False

    def _add_plugin_commands(self) -> None:
        if self.plugin_manager is not None and not self._plugin_commands_added:
            from litestream_core.plugins import add_cli_commands

            self._plugin_commands_added = True
            add_cli_commands(self.plugin_manager(), self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = DEPRECATED_ALIASES.get(cmd_name, cmd_name)
        if cmd_name not in COMMANDS:
            self._add_plugin_commands()
            return self.commands.get(cmd_name)
        module = importlib.import_module(COMMANDS[cmd_name][0])
        command: click.Command = module.command
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        from litestream_core.cli.goflags import go_args

        name = args[0]
        if name in DEPRECATED_ALIASES:
            new = DEPRECATED_ALIASES[name]
            click.echo(
                f"Warning: '{name}' command is deprecated, please use '{new}' instead", err=True
            )
            args = [new, *args[1:]]
            name = new
        unknown = self.get_command(ctx, name) is None and not name.startswith("-")
        if unknown and not ctx.resilient_parsing:  # shell completion offers nothing instead
            raise click.UsageError(f"litestream {name}: unknown command", ctx)
        cmd_name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not isinstance(command, click.Group):
            rest = go_args(command, rest)
        return cmd_name, command, rest

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Go prints the usage and exits 1 when no command is given (shell completion
        # parses the words typed so far, often none, and must go on quietly).
        if not args and not ctx.resilient_parsing:
            click.echo(ctx.get_help())
            ctx.exit(1)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List lazy commands by their one-line help without importing them."""
        self._add_plugin_commands()
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        rows += [
            (name, cmd.get_short_help_str())
            for name, cmd in sorted(self.commands.items())
            if name not in COMMANDS
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def make_cli(pm: pluggy.PluginManager | None = None) -> click.Group:
    """Build a fresh command group with the plugins' commands (nothing happens at import;
    plugins are discovered only when a command needs them).

    :param pm: the plugin manager every command of this CLI uses; a fresh one with
        every installed plugin when None. Tests pass their own.
    """
    created: list[pluggy.PluginManager] = []

    def manager() -> pluggy.PluginManager:
        """The CLI's plugin manager: ``pm``, else one built on first need and kept."""
        if pm is not None:
            return pm
        if not created:
            from litestream_core.plugins import get_plugin_manager

            created.append(get_plugin_manager())
        return created[0]

    @click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "-help", "--help"]})
    @click.version_option(__version__, prog_name="litestream", message="%(version)s")
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        """Litestream: disaster recovery for SQLite."""
        if pm is not None:
            ctx.meta[PLUGIN_MANAGER_KEY] = pm

    @cli.command("help")
    @click.argument("command", required=False)
    @click.pass_context
    def help_command(ctx: click.Context, command: str | None) -> None:
        """Show help for litestream or one command."""
        group = ctx.parent.command if ctx.parent else cli
        assert isinstance(group, click.Group)
        parent = ctx.parent or ctx
        if command is None:
            click.echo(group.get_help(parent))
            return
        sub = group.get_command(parent, command)
        if sub is None:
            raise click.UsageError(f"litestream {command}: unknown command")
        with click.Context(sub, info_name=command, parent=parent) as sub_ctx:
            click.echo(sub.get_help(sub_ctx))

    assert isinstance(cli, LazyGroup)
    cli.plugin_manager = manager
    return cli


def plugin_manager(ctx: click.Context) -> pluggy.PluginManager:
    """The plugin manager of the running CLI; a command run outside ``make_cli`` (a
    test invoking it directly) gets a fresh one, kept for the rest of its run."""
    pm: pluggy.PluginManager | None = ctx.meta.get(PLUGIN_MANAGER_KEY)
    if pm is None:
        root = ctx.find_root().command
        if isinstance(root, LazyGroup) and root.plugin_manager is not None:
            pm = root.plugin_manager()  # built now: the first command that needs plugins
        else:
            from litestream_core.plugins import get_plugin_manager

            pm = get_plugin_manager()
        ctx.meta[PLUGIN_MANAGER_KEY] = pm
    return pm


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every failure is one ``Error:`` line and exit 1."""
    from litestream_core.cli.common import fail, reader_gone
    from litestream_core.errors import LitestreamError

    args = argv if argv is not None else sys.argv[1:]
    try:
        cli = make_cli()
        result: Any = cli.main(args=args, prog_name="litestream", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        fail("interrupted", 130)
    except click.ClickException as exc:
        fail(exc.format_message())
    except LitestreamError as exc:
        fail(exc.one_line())
    except BrokenPipeError:
        reader_gone()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()
    sys.exit(result if isinstance(result, int) else 0)
