"""Declared settings: a group of config keys written once as a typed class.

A backend declares the YAML keys its replicas take by subclassing ``BackendSettings``
and passing the class to ``register(..., settings=...)``; the config parser then knows
those keys (a typo is still an error), checks their types with the line and column of
the offending key, ``litestream plugins -v`` lists them, and the backend's factory
receives an instance with typed attributes. The core's own config sections are
declared the same way (``litestream_core.config``).

::

    class WebDAVSettings(BackendSettings):
        webdav_url: Annotated[str, Setting("server URL, instead of the replica URL's")] = ""
        webdav_password: Annotated[str, Setting("password", secret=True)] = ""
        webdav_timeout: Annotated[Duration, Setting("timeout of one request")] = 30.0

Attribute ``webdav_url`` is YAML key ``webdav-url``. Declaring a class costs only the
standard library's ``dataclasses``: plugin modules are imported by every ``litestream``
start, so the validating library is imported only when values are converted.

Why msgspec validates: it converts a mapping into a dataclass with typed errors that
carry the field's path, which is all we need, and it is small and fast to import. We
measured both candidates in a fresh Python 3.11 venv: msgspec 0.23 installs 0.6 MB and
adds about 20 ms to start-up; pydantic 2.14 installs 7.8 MB (with pydantic-core,
annotated-types, typing-inspection) and adds about 90 ms. The core must install in
30 MB and start within twice Go's time, so the lighter one wins; pydantic's extra
features (JSON schema, settings from the environment) are not needed here.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self, dataclass_transform

from litestream_core.errors import ConfigError

__all__ = [
    "BackendSettings",
    "ByteSize",
    "Duration",
    "RedactSecrets",
    "Setting",
    "SettingError",
    "SettingInfo",
    "Settings",
    "StrList",
    "parse_byte_size",
    "parse_duration",
    "suggest",
]


# -- Declaring -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """What a key means, written inside ``Annotated[type, Setting(...)]``.

    :param help: one line for ``litestream plugins -v`` and the docs.
    :param secret: its value never appears in a repr, a log line or an error.
    :param inherit: a value at the config's top level applies to every replica, as in
        Go (which does not inherit ``part-size``, ``concurrency``, ``host-key`` and
        ``webdav-*``).
    :param gt: the value must be greater than this.
    :param ge: the value must be at least this.
    :param choices: the allowed values of a string, compared without case.
    """

    help: str = ""
    secret: bool = False
    inherit: bool = True
    gt: float | None = None
    ge: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Kind:
    """Marks a type whose YAML spelling is text the core parses (``1m30s``, ``5MiB``)."""

    label: str


Duration = Annotated[float, _Kind("duration")]
"""Seconds, written as a Go duration (``500ms``, ``1m30s``); a bare number other than 0
is refused, as Go would read it as nanoseconds."""
ByteSize = Annotated[int, _Kind("byte size")]
"""Bytes, written as a number or with a unit (``10MB`` is 10**7, ``5MiB`` 5 * 2**20)."""
StrList = Annotated[tuple[str, ...], _Kind("list")]
"""Strings, written as a YAML list or one comma-separated string."""


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One declared key, as listed by ``litestream plugins -v``."""

    key: str
    attr: str
    type: str
    """A reader's name for the type: ``string``, ``boolean``, ``duration``, ..."""
    default: Any
    help: str
    secret: bool
    inherit: bool
    setting: Setting
    kind: str | None
    base: Any
    """The Python type after ``Annotated`` and ``None`` are taken off."""


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Settings:
    """Base of a declared group of keys; each subclass becomes a frozen dataclass.

    Annotations must be resolvable at run time (import ``Annotated`` and the types
    for real, not under ``TYPE_CHECKING``): they are read when values are converted.
    """

    _label: ClassVar[str] = "settings"
    """How errors name this group when no config location is known."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True, kw_only=True, repr=False)(cls)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{info.attr}={_shown(info, getattr(self, info.attr))}" for info in self.describe()
        )
        return f"{type(self).__name__}({shown})"

    @classmethod
    def describe(cls) -> tuple[SettingInfo, ...]:
        """Every declared key, in declaration order."""
        return _describe(cls)

    @classmethod
    def keys(cls) -> frozenset[str]:
        return frozenset(info.key for info in cls.describe())

    @classmethod
    def from_options(
        cls,
        values: Mapping[str, Any],
        *,
        source: str = "",
        where: str = "",
        positions: Mapping[str, tuple[int, int]] | None = None,
    ) -> Self:
        """An instance from a mapping of YAML keys; ``None`` values count as unset.

        :param source: the config file, for messages.
        :param where: the block holding the keys (``dbs[0].replica``), for messages.
        :param positions: key -> (line, column) in the source.
        :raises SettingError: an undeclared key, or a value of the wrong type or range;
            the message names the key and its position.
        """
        instance: Self = _convert(cls, values, source, where or cls._label, positions or {})
        return instance

    @classmethod
    def coerce(cls, value: Self | Mapping[str, Any]) -> Self:
        """``value`` if it already is an instance, else one made from the mapping.

        The core always hands a factory an instance; this lets code that calls a
        factory directly (tests, scripts) pass the YAML keys as a plain mapping.
        """
        if isinstance(value, Mapping):
            return cls.from_options(value)
        return value

    def as_options(self) -> dict[str, Any]:
        """The keys that hold a value (``None`` left out), by their YAML names."""
        out = {}
        for info in self.describe():
            value = getattr(self, info.attr)
            if value is not None:
                out[info.key] = value
        return out

    def secrets(self) -> list[str]:
        """The secret values this instance holds, for redacting them from text."""
        values = (getattr(self, i.attr) for i in self.describe() if i.secret)
        return [str(v) for v in values if v]


class BackendSettings(Settings):
    """Base of a backend's settings: declare its keys as fields of a subclass.

    ``path`` is the replica's ``path:`` key when the config names the replica by
    ``type`` and ``path`` rather than by URL; None when a URL gave the location.
    """

    _label = "replica"

    path: Annotated[
        str | None, Setting("directory or key prefix of the replica", inherit=False)
    ] = None


class RedactSecrets(logging.Filter):
    """Replaces secret values in every log line (and its traceback) with ``***``.

    Settings never show secrets themselves, but an SDK's error message or a URL in an
    exception can carry one; a handler with this filter cannot print it.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole; very short
        # values would redact ordinary words.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        from litestream_core.logs import record_fields

        for key, value in record_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


# -- Introspection ---------------------------------------------------------------------

_TYPE_LABELS: dict[Any, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
}


def _kebab(name: str) -> str:
    return name.replace("_", "-")


_described: dict[type[Settings], tuple[SettingInfo, ...]] = {}


def _describe(cls: type[Settings]) -> tuple[SettingInfo, ...]:
    found = _described.get(cls)
    if found is None:
        found = _described[cls] = _introspect(cls)
    return found


def _introspect(cls: type[Settings]) -> tuple[SettingInfo, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    infos = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        setting, kind, base = _unwrap(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        label = kind.label if kind is not None else _TYPE_LABELS.get(base, _type_name(base))
        infos.append(
            SettingInfo(
                key=_kebab(f.name),
                attr=f.name,
                type=label,
                default=default,
                help=setting.help,
                secret=setting.secret,
                inherit=setting.inherit,
                setting=setting,
                kind=kind.label if kind is not None else None,
                base=base,
            )
        )
    return tuple(infos)


def _unwrap(hint: Any) -> tuple[Setting, _Kind | None, Any]:
    """The Setting, the kind marker and the plain type inside ``hint``."""
    setting, kind = Setting(), None
    while True:
        if typing.get_origin(hint) is Annotated:
            for extra in hint.__metadata__:
                if isinstance(extra, Setting):
                    setting = extra
                elif isinstance(extra, _Kind):
                    kind = extra
            hint = hint.__origin__
            continue
        args = typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                hint = rest[0]
                continue
        return setting, kind, hint


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return "list"
    return getattr(tp, "__name__", str(tp))


def _shown(info: SettingInfo, value: Any) -> str:
    return "'***'" if info.secret and value else repr(value)


# -- Converting ------------------------------------------------------------------------


class SettingError(ConfigError):
    """A config key that is undeclared, or whose value has the wrong type or range."""

    def __init__(
        self,
        problem: str,
        *,
        key: str,
        source: str = "",
        where: str = "",
        position: tuple[int, int] | None = None,
        hint: str | None = None,
    ) -> None:
        self.key = key
        self.source = source
        self.where = where
        self.line: int | None = position[0] if position is not None else None
        self.column: int | None = position[1] if position is not None else None
        self.problem = problem
        parts = [source] if source else []
        if position is not None:
            parts.append(f"line {position[0]}, column {position[1]}")
        if where:
            parts.append(where)
        super().__init__(": ".join([*parts, problem]), hint=hint)


def suggest(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known key, or nothing."""
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _convert(
    cls: type[Settings],
    values: Mapping[str, Any],
    source: str,
    where: str,
    positions: Mapping[str, tuple[int, int]],
) -> Any:
    infos = {info.key: info for info in cls.describe()}

    def error(key: str, problem: str, hint: str | None = None) -> SettingError:
        info = infos.get(key)
        full = f"{where}.{key}" if info is not None else where
        return SettingError(
            problem, key=key, source=source, where=full, position=positions.get(key), hint=hint
        )

    prepared: dict[str, Any] = {}
    for key, value in values.items():
        info = infos.get(key)
        if info is None:
            raise error(str(key), f"unknown key '{key}'{suggest(str(key), infos)}")
        if value is None:
            continue
        try:
            prepared[info.attr] = _prepare(info, value)
        except ValueError as exc:
            raise error(key, str(exc)) from None
    if not prepared and _all_defaulted(cls):
        instance = cls()  # nothing given (a bare URL): no need to load msgspec
    else:
        instance = _convert_values(cls, prepared, infos, error, source, where)
    for info in infos.values():
        value = getattr(instance, info.attr)
        if value is None:
            continue
        try:
            checked = _check(info, value)
        except ValueError as exc:
            raise error(info.key, str(exc)) from None
        if checked is not value:
            object.__setattr__(instance, info.attr, checked)
    return instance


def _all_defaulted(cls: type[Settings]) -> bool:
    """Whether every field has a default, so ``cls()`` is what converting nothing gives."""
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    )


def _convert_values(
    cls: type[Settings],
    prepared: dict[str, Any],
    infos: Mapping[str, SettingInfo],
    error: Callable[..., SettingError],
    source: str,
    where: str,
) -> Any:
    """``prepared`` (attribute names) as an instance of ``cls``, typed by msgspec."""
    import msgspec

    try:
        return msgspec.convert(prepared, cls, strict=False)
    except msgspec.ValidationError as exc:
        attr = _failed_attr(str(exc))
        info = next((i for i in infos.values() if i.attr == attr), None)
        if info is None:
            raise SettingError(str(exc), key="", source=source, where=where) from None
        shown = _shown(info, prepared.get(info.attr))
        wanted = "true or false" if info.base is bool else _article(info.type)
        raise error(info.key, f"expected {wanted}, got {shown}") from None


def _prepare(info: SettingInfo, value: Any) -> Any:
    """Text the core parses (durations, sizes, lists), and scalars a string key takes."""
    if info.kind == "duration":
        return _duration(value)
    if info.kind == "byte size":
        return parse_byte_size(value)
    if info.kind == "list" and isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if info.base is str and not isinstance(value, str | dict | list):
        # YAML reads `password: 1234` as a number; Go's string field takes it as text.
        return str(value).lower() if isinstance(value, bool) else str(value)
    return value


def _check(info: SettingInfo, value: Any) -> Any:
    s = info.setting
    if s.choices:
        lowered = str(value).lower()
        if lowered not in s.choices:
            raise ValueError(f"unknown value {value!r} (one of: {', '.join(s.choices)})")
        return lowered
    if s.gt is not None and not value > s.gt:
        raise ValueError("must be greater than zero" if s.gt == 0 else f"must be above {s.gt}")
    if s.ge is not None and not value >= s.ge:
        raise ValueError("cannot be negative" if s.ge == 0 else f"must be at least {s.ge}")
    return value


_AT = re.compile(r" - at `\$\.([A-Za-z0-9_]+)")


def _failed_attr(message: str) -> str | None:
    m = _AT.search(message)
    return m.group(1) if m else None


def _article(label: str) -> str:
    return f"an {label}" if label[:1] in "aeiou" else f"a {label}"


# -- Value syntaxes Go uses ---------------------------------------------------------------

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: object, *, where: str = "duration") -> float:
    """Seconds from a Go duration string (``1s``, ``500ms``, ``1m30s``, ``-2h``).

    A bare number other than 0 is refused: Go would read it as nanoseconds, which is
    never what the author meant. Already-parsed floats (from a settings object) pass.

    :raises ConfigError: prefixed with ``where``.
    """
    try:
        return _duration(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float) and value == 0:
        return 0.0
    if isinstance(value, float):
        return value
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r} (write it with a unit, e.g. 1s)")
    text = value.strip()
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r} (examples: 1s, 500ms, 1m30s)")
    return sign * total


_BYTE_SIZE = re.compile(r"([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)")
_BYTE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "ki": 2**10, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mi": 2**20, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gi": 2**30, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "ti": 2**40, "tib": 2**40,
}  # fmt: skip


def parse_byte_size(value: object) -> int:
    """Go's ``ParseByteSize`` (go-humanize): ``10MB`` is 10**7, ``5MiB`` is 5 * 2**20.

    :raises ValueError: not a size.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _BYTE_SIZE.fullmatch(str(value).strip())
    unit = _BYTE_UNITS.get(m[2].lower()) if m else None
    if m is None or unit is None:
        raise ValueError(f"invalid size {value!r} (use a size such as 5MiB or 10MB)")
    return int(float(m[1]) * unit)
