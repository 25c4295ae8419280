"""Pieces every command shares: one-line errors and Go-style flag spellings."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from litestream_core.errors import LitestreamError

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> None:
    """Print ``Error: message`` on stderr and exit; the CLI never shows a traceback."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the product's errors (and OS errors) into one line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LitestreamError as exc:
            fail(exc.one_line())
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        raise AssertionError("unreachable")

    return wrapper


def go_flag(name: str, *more: str) -> tuple[str, ...]:
    """Both spellings of a long flag: Go's ``-name`` and click's ``--name``."""
    return (f"-{name}", f"--{name}", *more)
