"""The ``litestream`` command line.

Commands live one per module and are imported only when invoked, so ``litestream
--help`` stays fast and never imports a cloud SDK. Go Litestream's single-dash long
flags (``-config``) are accepted beside click's ``--config``: each command declares
both spellings.
"""

from __future__ import annotations

import importlib
import sys

import click

# command name -> "module:attribute" of its click.Command; a command's module is
# imported only when that command runs or its help is shown.
COMMANDS: dict[str, tuple[str, str]] = {
    "replicate": ("litestream_core.cli.replicate", "Replicate SQLite databases continuously"),
    "restore": ("litestream_core.cli.restore", "Restore a database from a replica"),
    "plugins": ("litestream_core.cli.plugins_cmd", "List installed plugins and their status"),
    "version": ("litestream_core.cli.version", "Print the version"),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List lazy commands by their one-line help without importing them."""
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        rows += [
            (name, cmd.get_short_help_str())
            for name, cmd in sorted(self.commands.items())
            if name not in COMMANDS
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def make_cli() -> click.Group:
    """Build a fresh command group (tests build their own; nothing happens at import)."""

    @click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
    def cli() -> None:
        """Litestream: disaster recovery for SQLite."""

    return cli


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli = make_cli()
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="litestream")
