"""Pieces every command shares: one-line errors, Go-style flag spellings, plain tables."""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, ParamSpec, TypeVar

import click

from litestream_core.errors import LitestreamError

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> None:
    """Print ``Error: message`` on stderr and exit; the CLI never shows a traceback."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def reader_gone() -> NoReturn:
    """Stop quietly when stdout's reader has gone (``litestream ltx ... | head``).

    Exit status 1 and no message, as click itself does for the commands it runs;
    without this, Python prints an error, then another one when it flushes stdout at exit.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


OPEN_FILES_HINT = (
    "the open-files limit is reached: each replicated database keeps about 9 files "
    "open; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=)"
)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the product's errors (and OS errors) into one line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LitestreamError as exc:
            fail(exc.one_line())
        except BrokenPipeError:
            reader_gone()
        except OSError as exc:
            message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
            if exc.errno == errno.EMFILE:
                message += f" ({OPEN_FILES_HINT})"
            fail(message)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        raise AssertionError("unreachable")

    return wrapper


def no_config_given(config_path: str | None) -> bool:
    """True when no config was asked for and the default one does not exist.

    ``status``, ``ltx`` and ``reset`` then work on a database path alone, from the
    default meta directory beside it, instead of failing on a file nobody mentioned.
    """
    import os

    from litestream_core.config import CONFIG_ENV, DEFAULT_CONFIG_PATH

    if config_path is not None or os.environ.get(CONFIG_ENV):
        return False
    return not os.path.exists(DEFAULT_CONFIG_PATH)


def go_flag(name: str, *more: str) -> tuple[str, ...]:
    """Both spellings of a long flag: Go's ``-name`` and click's ``--name``."""
    return (f"-{name}", f"--{name}", *more)


def echo_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    indent: str = "",
    red: Sequence[bool] = (),
) -> None:
    """Left-aligned columns two spaces apart, like Go's tabwriter output.

    Rows flagged in ``red`` are coloured on a terminal (click drops the colour when piped).
    """
    table = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    flags = [False, *red, *([False] * (len(rows) - len(red)))]
    for row, flag in zip(table, flags, strict=True):
        line = indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        click.echo(click.style(line, fg="red") if flag else line)
