"""Running a ``litestream`` command inside this process and keeping what it prints.

The MCP server answers each tool with a command's output, as Go's does, but without
starting a process. Commands print through ``click.echo`` to ``sys.stdout`` and
``sys.stderr``; those are replaced once by streams that send a capturing thread's
writes to its own buffer and everyone else's to the real stream, so a tool running on
a worker thread never swallows the daemon's output, and two tools never mix theirs.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Any, TextIO

_install_lock = threading.Lock()
_local = threading.local()


class _ThreadAwareStream:
    """A stand-in for ``sys.stdout``/``sys.stderr``; see the module docstring."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def _target(self) -> TextIO:
        buffer: TextIO | None = getattr(_local, "buffer", None)
        return buffer if buffer is not None else self.real

    def write(self, text: str) -> int:
        return self._target().write(text)

    def writelines(self, lines: Any) -> None:
        self._target().writelines(lines)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self._target().fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _install() -> None:
    with _install_lock:
        if not isinstance(sys.stdout, _ThreadAwareStream):
            sys.stdout = _ThreadAwareStream(sys.stdout)
        if not isinstance(sys.stderr, _ThreadAwareStream):
            sys.stderr = _ThreadAwareStream(sys.stderr)


def run_captured(args: list[str]) -> tuple[int, str]:
    """Run ``litestream ARGS`` on this thread; its exit status and its stdout and
    stderr as one text (Go's ``CombinedOutput``). Blocking: call it from a worker
    thread when an event loop runs here, since commands run their own."""
    import click

    from litestream_core.cli import make_cli
    from litestream_core.errors import LitestreamError

    _install()
    buffer = io.StringIO()
    _local.buffer = buffer
    code = 0
    try:
        result = make_cli().main(args=args, prog_name="litestream", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        buffer.write(f"Error: {exc.format_message()}\n")
        code = exc.exit_code
    except LitestreamError as exc:
        buffer.write(f"Error: {exc.one_line()}\n")
        code = 1
    finally:
        _local.buffer = None
    return code, buffer.getvalue()
