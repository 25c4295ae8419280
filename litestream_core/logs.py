"""Log output as Go Litestream writes it: logfmt by default, JSON or pretty on request.

The product logs through the standard ``logging`` module (plugins too: any logger
under ``litestream``); structured fields travel as ``extra={...}``. This module
renders those records with structlog's renderers, so one line reads like a line of
Go's ``slog`` text handler::

    time=2026-01-02T03:04:05.678Z level=INFO msg="snapshot is on the replica" \\
        db=/data/app.db replica=s3 txid=0000000000000001 size=4096 duration=0.120s

``logging.type: json`` gives one JSON object per line with the same keys (RFC 3339
times); ``pretty`` gives structlog's console output, coloured on a terminal. Values
that name a secret a replica declares are replaced by ``***`` in every rendering.

structlog is imported only by ``configure``: ``litestream --help`` and ``version``
never pay for it, and logfmt or JSON output never loads rich through it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, MutableMapping
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from litestream_core.settings import RedactSecrets

TRACE = 5
"""Go's TRACE level (below DEBUG)."""

LEVELS = {"trace": TRACE, "debug": logging.DEBUG, "info": logging.INFO,
          "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR}  # fmt: skip
"""``logging.level`` / ``-log-level`` / ``LOG_LEVEL`` names, as Go accepts them."""

_GO_LEVEL_NAMES = {TRACE: "TRACE", logging.DEBUG: "DEBUG", logging.INFO: "INFO",
                   logging.WARNING: "WARN", logging.ERROR: "ERROR",
                   logging.CRITICAL: "ERROR"}  # fmt: skip

_ORDER = ("time", "level", "source", "msg")
"""Keys that lead every line, in Go's order; the record's own fields follow."""

EventDict = MutableMapping[str, Any]


_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

RESERVED_FIELDS = _STANDARD_ATTRS | {"time", "level", "msg", "source", "db", "replica"}
"""Keys a field may not take: ``logging`` refuses a record attribute's name as an
``extra`` key, and the others lead every line or name the database and replica."""


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a record carries (what the call passed as ``extra``)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


def resolve_level(flag: str | None, configured: str | None = None) -> int:
    """The level to log at: ``-log-level`` first, then ``LOG_LEVEL``, then the config's
    ``logging.level`` (Go's precedence); an unknown name means INFO, as in Go."""
    name = flag or os.environ.get("LOG_LEVEL") or configured or "info"
    return LEVELS.get(name.lower(), logging.INFO)


def configure(
    *,
    level: int = logging.INFO,
    kind: str = "text",
    stderr: bool = False,
    source: bool = False,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every ``litestream`` logger's records to one handler rendering ``kind``
    (``text``, ``json`` or ``pretty``); returns the handler (tests read it)."""
    structlog = _import_structlog()

    from litestream_core.settings import RedactSecrets

    logging.addLevelName(TRACE, "TRACE")
    out = stream if stream is not None else (sys.stderr if stderr else sys.stdout)
    redact = RedactSecrets(secrets)
    chain: list[Any] = [
        structlog.stdlib.ExtraAdder(),
        structlog.processors.EventRenamer("msg"),  # after the fields: msg is the message
        _time,
        _level,
    ]
    if source:
        chain.append(_source)
    # Tracebacks become one string before redaction (never a rendering with locals).
    chain += [structlog.processors.format_exc_info, _Redact(redact), _lead]
    renderer: Any
    if kind == "json":
        renderer = structlog.processors.JSONRenderer()
    elif kind == "pretty":
        renderer = structlog.dev.ConsoleRenderer(colors=_is_tty(out), event_key="msg",
                                                 timestamp_key="time")  # fmt: skip
    else:
        chain.append(_drop_empty)
        renderer = structlog.processors.LogfmtRenderer(bool_as_flag=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger("litestream")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    return handler


def _import_structlog() -> ModuleType:
    """structlog, imported without rich.

    structlog's package imports its console renderer, which imports rich (and pygments)
    when they are installed, for tracebacks: 5.5 MB resident and more time than the
    rest of a restore's start-up. No rendering here uses them: tracebacks become a
    plain string (``format_exc_info``) before any renderer sees them. Hiding rich
    while structlog is first imported leaves it out; a later import of rich, by
    anything, gets the real one.
    """
    if "structlog" in sys.modules or "rich" in sys.modules:
        import structlog
    else:
        sys.modules["rich"] = None  # type: ignore[assignment]  # import rich: ImportError
        try:
            import structlog
        finally:
            del sys.modules["rich"]
    return structlog


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _record(event: EventDict) -> logging.LogRecord:
    record: logging.LogRecord = event["_record"]
    return record


def _time(_: Any, __: str, event: EventDict) -> EventDict:
    """RFC 3339 in local time with milliseconds, ``Z`` for UTC: Go's slog format."""
    when = datetime.fromtimestamp(_record(event).created).astimezone()
    text = when.isoformat(timespec="milliseconds")
    event["time"] = text[:-6] + "Z" if text.endswith("+00:00") else text
    return event


def _level(_: Any, __: str, event: EventDict) -> EventDict:
    levelno = _record(event).levelno
    event["level"] = _GO_LEVEL_NAMES.get(levelno, logging.getLevelName(levelno))
    return event


def _source(_: Any, __: str, event: EventDict) -> EventDict:
    """``logging.source``: the file (from its package down) and line of the call."""
    record = _record(event)
    path = record.pathname.replace(os.sep, "/")
    at = path.rfind("/litestream_")
    event["source"] = f"{path[at + 1 :] if at >= 0 else os.path.basename(path)}:{record.lineno}"
    return event


def _lead(_: Any, __: str, event: EventDict) -> EventDict:
    """Time, level, source and message first, in Go's order; the record's fields after."""
    first = {key: event.pop(key) for key in _ORDER if key in event}
    return {**first, **event}


def _drop_empty(_: Any, __: str, event: EventDict) -> EventDict:
    """logfmt has no way to say "empty" that every parser reads: leave such keys out."""
    for key in [k for k, v in event.items() if v is None or v == ""]:
        del event[key]
    return event


class _Redact:
    """Secrets out of every string value, the message and a traceback included."""

    def __init__(self, secrets: RedactSecrets) -> None:
        self._secrets = secrets

    def __call__(self, _: Any, __: str, event: EventDict) -> EventDict:
        for key, value in event.items():
            if isinstance(value, str) and not key.startswith("_"):
                event[key] = self._secrets.redact(value)
        return event


def format_txid(txid: int) -> str:
    """A TXID as every line shows it: Go's 16 hex digits."""
    return f"{txid:016x}"


def format_seconds(seconds: float) -> str:
    """A duration for a log field (``0.120s``)."""
    return f"{seconds:.3f}s"


def replica_type(name: str) -> str:
    """What ``replica=`` says of a replica, given the name the engine gives it: a lone
    replica is named by its (redacted) URL, so the field is its backend type as in Go's
    lines; one of several is named by its config ``name`` (or its type), kept as is."""
    if not name:
        return ""
    if "://" in name:
        return name.split("://", 1)[0]
    return "file" if name.startswith("/") else name
