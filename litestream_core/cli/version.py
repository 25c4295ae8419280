"""``litestream version``: the core's version, like Go's ``litestream version``."""

from __future__ import annotations

import sys

import click

from litestream_core.cli.common import go_flag


@click.command("version")
@click.option(*go_flag("verbose"), is_flag=True, help="Also print Python, SQLite and OS details.")
def command(verbose: bool) -> None:
    """Print the version."""
    from litestream_core._version import __version__

    if not verbose:
        click.echo(__version__)
        return
    import platform

    import apsw

    click.echo(f"Version:        {__version__}")
    click.echo(f"Python Version: {platform.python_version()} ({sys.implementation.name})")
    click.echo(f"SQLite Version: {apsw.sqlite_lib_version()} (apsw {apsw.apsw_version()})")
    click.echo(f"OS/Arch:        {sys.platform}/{platform.machine()}")
