"""What the runtime commands (``info``, ``list``, ``sync``, ``start``, ``stop``,
``register``, ``unregister``) share: Go's flags, argument checks and output shapes.

Each sends one request to a running ``replicate`` daemon's control socket, ours or
Go's, and prints the answer as Go's command does: ``key: value`` lines, or with
``-json`` an indented object with Go's keys.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from litestream_core.cli.common import go_flag

if TYPE_CHECKING:
    from litestream_core.ops.control_client import ControlClient

F = TypeVar("F", bound=Callable[..., Any])


def control_options(timeout: int, timeout_help: str = "") -> Callable[[F], F]:
    """Go's ``-socket``, ``-timeout SECONDS`` and ``-json`` flags."""
    from litestream_core.ops.wire import DEFAULT_SOCKET_PATH

    def decorate(func: F) -> F:
        func = click.option(
            *go_flag("json"), "as_json", is_flag=True, help="Output raw JSON, not text."
        )(func)
        func = click.option(
            *go_flag("timeout"), type=int, default=timeout, show_default=True,
            metavar="SECONDS", help=timeout_help or "Maximum time to wait in seconds.",
        )(func)  # fmt: skip
        return click.option(
            *go_flag("socket"), "socket_path", default=DEFAULT_SOCKET_PATH, show_default=True,
            metavar="PATH", help="Path to the daemon's control socket.",
        )(func)  # fmt: skip

    return decorate


def usage_error(message: str, hint: str) -> NoReturn:
    """Go's usage error: the problem, then what to type instead; exit status 1."""
    click.echo(f"Error: {message}", err=True)
    click.echo(f"Try: {hint}", err=True)
    sys.exit(1)


def one_path(args: tuple[str, ...], hint: str) -> str:
    """The single DB_PATH argument Go's commands take."""
    from litestream_core.errors import ConfigError

    if not args:
        usage_error("database path required", hint)
    if len(args) > 1:
        raise ConfigError("too many arguments")
    return args[0]


def no_args(args: tuple[str, ...]) -> None:
    from litestream_core.errors import ConfigError

    if args:
        raise ConfigError("too many arguments")


def check_timeout(timeout: int, *, zero_ok: bool = False) -> float | None:
    """The client's timeout in seconds (None: no limit, Go's 0 for start and stop)."""
    from litestream_core.errors import ConfigError

    if timeout < 0 or (timeout == 0 and not zero_ok):
        raise ConfigError("timeout must be greater than 0")
    return float(timeout) if timeout else None


def client(socket_path: str, timeout: float | None, command: str) -> ControlClient:
    from litestream_core.ops.control_client import ControlClient

    return ControlClient(socket_path, timeout=timeout, command=command)


def print_fields(
    fields: dict[str, Any], as_json: bool, shown: dict[str, Any] | None = None
) -> None:
    """``-json``: Go's indented object; otherwise ``key: value`` lines, in Go's order.

    ``shown`` replaces values in the text form only (``register`` words its status).
    """
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    for key, value in fields.items():
        click.echo(f"{key}: {(shown or {}).get(key, value)}")


def print_start_stop(result: dict[str, Any], state: str, socket_path: str, as_json: bool) -> None:
    fields = {
        "status": result.get("status"), "db_path": result.get("path"), "state": state,
        "txid": result.get("txid", 0), "socket": socket_path,
    }  # fmt: skip
    print_fields(fields, as_json)
