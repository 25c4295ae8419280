"""Finding, loading and calling plugins; with ``event_dispatch``, the only caller of ``pm.hook``.

Every plugin is an entry point in the group ``litestream.plugins``. Each is loaded on
its own: a plugin that needs another core version is skipped before it is imported, one
that fails to import is reported once and the rest keep working, and strict mode
(``LITESTREAM_STRICT_PLUGINS=1``, for CI) makes any such problem fatal. The core keeps
its own status table instead of reading pluggy's private fields, and the typed
functions below stand in for pluggy's untyped ``pm.hook``.

Nothing happens at import: ``get_plugin_manager()`` builds a fresh manager each call,
and ``default_plugin_manager()`` caches one per process. What the entry-point scan
finds (and each plugin's verdict against this core) is kept between runs by
``plugin_index`` while the installed distributions are unchanged.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pluggy

from litestream_core import hookspecs, plugin_index
from litestream_core.backends import BackendSpec
from litestream_core.builtin import lz4_codec
from litestream_core.builtin.replica_clients import SchemeRegistryFactory
from litestream_core.client import Capability, ReplicaURL
from litestream_core.errors import (
    ConfigError,
    PluginConflictError,
    PluginError,
    PluginIncompatibleError,
    PluginLoadError,
    describe,
)
from litestream_core.logs import RESERVED_FIELDS

if TYPE_CHECKING:
    from importlib import metadata

    import click

    from litestream_core.client import ClientFactory, ReplicaClient
    from litestream_core.compression import Compressor, PageCodecs
    from litestream_core.settings import BackendSettings

ENTRY_POINT_GROUP = "litestream.plugins"
CORE_DISTRIBUTION = "litestream-core"
LOAD_PLUGINS_ENV = "LITESTREAM_LOAD_PLUGINS"
STRICT_PLUGINS_ENV = "LITESTREAM_STRICT_PLUGINS"

FIRST_PARTY_SCHEMES: Mapping[str, str] = {
    "file": "litestream-file",
    "s3": "litestream-s3",
    "gs": "litestream-gcs",
    "abs": "litestream-abs",
    "sftp": "litestream-sftp",
    "nats": "litestream-nats",
    "webdav": "litestream-webdav",
    "webdavs": "litestream-webdav",
    "oss": "litestream-oss",
}
"""Scheme -> the distribution that serves it, for the "install this" hint."""

_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]*")

__all__ = [
    "ENTRY_POINT_GROUP",
    "FIRST_PARTY_SCHEMES",
    "BackendSpec",
    "PluginStatus",
    "add_cli_commands",
    "compressors",
    "default_plugin_manager",
    "get_plugin_manager",
    "make_replica_client",
    "page_codecs",
    "plugin_statuses",
    "replica_client_registry",
    "replica_secrets",
]


@dataclass(frozen=True, slots=True)
class PluginStatus:
    """One row of ``litestream plugins``."""

    name: str
    distribution: str | None
    version: str | None
    status: str
    """``loaded``, ``failed: <error>``, ``skipped: incompatible ...`` or ``disabled``."""
    schemes: tuple[str, ...] = ()
    codecs: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    unknown_hooks: tuple[str, ...] = ()
    """Implementations matching no hookspec: usually a misspelled hook name."""
    builtin: bool = False

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong with this plugin (disabled on purpose is fine)."""
        return self.status in ("loaded", "disabled") and not self.unknown_hooks


@dataclass(frozen=True, slots=True)
class _CodecSpec:
    codec: Compressor
    plugin: str
    override: bool


@dataclass
class _Row:
    """The mutable form of a PluginStatus while the manager is built."""

    name: str
    distribution: str | None
    version: str | None
    status: str
    builtin: bool = False


@dataclass
class _State:
    """What the core knows about one manager, kept beside it rather than inside it."""

    strict: bool
    scan: plugin_index.Scan | None = None
    rows: dict[str, _Row] = field(default_factory=dict)
    cache: dict[str, tuple[tuple[object, ...], Any]] = field(default_factory=dict)


_STATES: weakref.WeakKeyDictionary[pluggy.PluginManager, _State] = weakref.WeakKeyDictionary()


def _env_strict() -> bool:
    return os.environ.get(STRICT_PLUGINS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _state(pm: pluggy.PluginManager) -> _State:
    # A manager built elsewhere (a test's own) gets an empty table: its plugins are
    # still listed, from pluggy's public registry.
    state = _STATES.get(pm)
    if state is None:
        state = _STATES[pm] = _State(strict=_env_strict())
    return state


def _warn(message: str) -> None:
    """One line on stderr: load problems must be visible but must not stop the CLI."""
    print(f"Warning: {message}", file=sys.stderr, flush=True)


def _problem(state: _State, message: str, error: PluginError) -> None:
    if state.strict:
        raise error
    _warn(message)


# -- Building a manager ----------------------------------------------------------------


def get_plugin_manager(
    *,
    autoload: bool = True,
    only: Collection[str] | None = None,
    strict: bool | None = None,
    fresh: bool = False,
) -> pluggy.PluginManager:
    """A fresh manager with the built-in plugins and, if ``autoload``, the installed ones.

    :param only: entry-point names to load; the others are listed as ``disabled``.
        ``None`` means what ``LITESTREAM_LOAD_PLUGINS`` says (a comma list, ``''``
        for none), or every plugin when it is unset.
    :param strict: make any load problem fatal; ``None`` reads
        ``LITESTREAM_STRICT_PLUGINS``.
    :param fresh: scan the installed distributions even if the index of an earlier
        scan is current (``plugin_index``).
    :raises PluginLoadError, PluginIncompatibleError: in strict mode only.
    """
    pm = pluggy.PluginManager("litestream")
    pm.add_hookspecs(hookspecs)
    state = _STATES[pm] = _State(strict=_env_strict() if strict is None else strict)
    if autoload:
        state.scan = _scan(fresh)
    _register_builtins(pm, state)
    if autoload:
        _load_entry_points(pm, state, _selection(only))
    _check_pending(pm, state)
    return pm


_default_lock = threading.Lock()
_default_pm: pluggy.PluginManager | None = None


def default_plugin_manager() -> pluggy.PluginManager:
    """The process's manager, built on first use: entry points are scanned once."""
    global _default_pm
    with _default_lock:
        if _default_pm is None:
            _default_pm = get_plugin_manager()
        return _default_pm


def _register_builtins(pm: pluggy.PluginManager, state: _State) -> None:
    builtins: dict[str, object] = {
        "core.lz4": lz4_codec,
        "core.schemes": SchemeRegistryFactory(lambda: replica_client_registry(pm)),
    }
    version = state.scan.core_version if state.scan is not None else _installed_core_version()
    for name, plugin in builtins.items():
        pm.register(plugin, name=name)
        state.rows[name] = _Row(name, CORE_DISTRIBUTION, version, "loaded", builtin=True)


def _selection(only: Collection[str] | None) -> frozenset[str] | None:
    if only is not None:
        return frozenset(only)
    raw = os.environ.get(LOAD_PLUGINS_ENV)
    if raw is None:
        return None
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


def _installed_core_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version(CORE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def _scan(fresh: bool) -> plugin_index.Scan:
    """The installed plugins: the index kept from an earlier run while it is current,
    else a full scan through ``importlib.metadata`` (``plugin_index``)."""
    found = None if fresh else plugin_index.cached()
    if found is None:
        found = plugin_index.scan(ENTRY_POINT_GROUP, CORE_DISTRIBUTION, _incompatibility)
    return found


def _load_entry_points(
    pm: pluggy.PluginManager, state: _State, selection: frozenset[str] | None
) -> None:
    assert state.scan is not None
    for ep in state.scan.found:
        dist_name = ep.distribution
        dist_version = ep.version
        previous = state.rows.get(ep.name)
        if previous is not None:
            # The same distribution found twice (symlinked lib64, duplicate sys.path
            # entries) is harmless; two distributions claiming one name are not.
            if previous.distribution != dist_name:
                _warn(
                    f"plugin {ep.name!r} from {dist_name} ignored: the name is already "
                    f"taken by {previous.distribution}"
                )
            continue
        row = state.rows[ep.name] = _Row(ep.name, dist_name, dist_version, "loaded")
        if selection is not None and ep.name not in selection:
            row.status = "disabled"
            continue
        if (reason := ep.incompatible) is not None:
            row.status = f"skipped: incompatible: {reason}"
            _problem(
                state,
                f"plugin {ep.name!r} skipped: {reason}",
                PluginIncompatibleError(f"plugin {ep.name!r} cannot be used: {reason}"),
            )
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            detail = describe(exc)
            row.status = f"failed: {detail}"
            error = PluginLoadError(
                f"plugin {ep.name!r} ({_dist_label(row)}) failed to load: {detail}",
                plugin_name=ep.name,
                distribution=dist_name,
            )
            error.__cause__ = exc
            _problem(
                state,
                f"{error}; the other plugins still work (run with {LOAD_PLUGINS_ENV}='' "
                f"to load none, or uninstall {dist_name or ep.name})",
                error,
            )


def _incompatibility(dist: metadata.Distribution, core_version: str) -> str | None:
    """Why ``dist`` cannot run with this core, read from its metadata before importing it."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    try:
        installed = Version(core_version)
    except InvalidVersion:
        return None
    for line in dist.requires or ():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != CORE_DISTRIBUTION:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if not req.specifier.contains(installed, prereleases=True):
            return (
                f"{dist.name} {dist.version} requires {CORE_DISTRIBUTION}{req.specifier}; "
                f"{core_version} is installed"
            )
    return None


def _check_pending(pm: pluggy.PluginManager, state: _State) -> None:
    """Catch implementations of hooks that do not exist (a misspelled name is silent)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        unknown = {name: hooks for name, hooks in _unknown_hooks(pm).items() if hooks}
        listed = "; ".join(f"{name}: {', '.join(hooks)}" for name, hooks in unknown.items())
        message = f"plugins implement hooks that do not exist (misspelled?): {listed}"
        error = PluginLoadError(message, plugin_name=next(iter(unknown), ""), distribution=None)
        error.__cause__ = exc
        _problem(state, message, error)


def _unknown_hooks(pm: pluggy.PluginManager) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(
            caller.name
            for caller in pm.get_hookcallers(plugin) or ()
            if not caller.has_spec()
            and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
        )
        found[name] = tuple(hooks)
    return found


def _dist_label(row: _Row) -> str:
    if row.distribution is None:
        return "unknown distribution"
    return f"{row.distribution} {row.version}" if row.version else row.distribution


# -- Calling collecting hooks one plugin at a time -------------------------------------


def _each_impl(pm: pluggy.PluginManager, hook: str) -> Iterator[pluggy.HookImpl]:
    """Implementations in pluggy's calling order (tryfirst, LIFO, trylast)."""
    caller: pluggy.HookCaller = getattr(pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):
        if not (impl.wrapper or impl.hookwrapper):
            yield impl


def _call_impl(
    pm: pluggy.PluginManager, impl: pluggy.HookImpl, arguments: Mapping[str, Any]
) -> bool:
    """Call one implementation; a failure marks its plugin failed instead of spreading.

    Calling each implementation by itself (passing only the argument names it asks
    for, as pluggy would) is what lets the core know which plugin registered what.
    """
    state = _state(pm)
    try:
        impl.function(**{name: arguments[name] for name in impl.argnames})
    except Exception as exc:
        detail = describe(exc)
        row = state.rows.setdefault(impl.plugin_name, _Row(impl.plugin_name, None, None, "loaded"))
        row.status = f"failed: {detail}"
        error = PluginLoadError(
            f"plugin {impl.plugin_name!r} failed in {impl.function.__name__}: {detail}",
            plugin_name=impl.plugin_name,
            distribution=row.distribution,
        )
        error.__cause__ = exc
        _problem(state, str(error), error)
        return False
    return True


def _cached(pm: pluggy.PluginManager, hook: str, slot: str, build: Callable[[], Any]) -> Any:
    """``build()``, redone only when the implementations of ``hook`` change.

    Plugins register cheaply, but calling them once keeps a plugin's warning from
    repeating and lets callers compare registries by identity.
    """
    state = _state(pm)
    key = tuple(getattr(pm.hook, hook).get_hookimpls())
    hit = state.cache.get(slot)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = build()
    state.cache[slot] = (key, value)
    return value


def _registrations(pm: pluggy.PluginManager) -> list[tuple[BackendSpec, bool]]:
    """Every scheme registration and its ``override`` flag, conflicts included."""
    hook = "litestream_register_replica_clients"
    result: list[tuple[BackendSpec, bool]] = _cached(
        pm, hook, "schemes", lambda: _collect_schemes(pm)
    )
    return result


def _collect_schemes(pm: pluggy.PluginManager) -> list[tuple[BackendSpec, bool]]:
    specs: list[tuple[BackendSpec, bool]] = []
    for impl in _each_impl(pm, "litestream_register_replica_clients"):
        row = _state(pm).rows.get(impl.plugin_name)
        batch: list[tuple[BackendSpec, bool]] = []

        def register(
            scheme: str,
            factory: ClientFactory,
            *,
            settings: type[BackendSettings] | None = None,
            capabilities: Iterable[Capability] | None = None,
            description: str = "",
            override: bool = False,
            _impl: pluggy.HookImpl = impl,
            _batch: list[tuple[BackendSpec, bool]] = batch,
            _row: _Row | None = row,
        ) -> None:
            if not isinstance(scheme, str) or not _SCHEME_RE.fullmatch(scheme):
                raise PluginError(f"invalid URL scheme {scheme!r}")
            if not callable(factory):
                raise PluginError(f"the factory for scheme {scheme!r} is not callable")
            spec = BackendSpec(
                scheme=scheme,
                factory=factory,
                plugin=_impl.plugin_name,
                distribution=_row.distribution if _row else None,
                description=description,
                settings=_checked_settings(scheme, settings),
                capabilities=_checked_capabilities(scheme, capabilities),
            )
            _batch.append((spec, bool(override)))

        if _call_impl(pm, impl, {"register": register}):
            specs.extend(batch)
    return specs


def _checked_settings(scheme: str, settings: object) -> type[BackendSettings] | None:
    from litestream_core.settings import BackendSettings

    if settings is None:
        return None
    if not (isinstance(settings, type) and issubclass(settings, BackendSettings)):
        raise PluginError(f"the settings of scheme {scheme!r} are not a BackendSettings class")
    try:
        settings.describe()  # resolves the annotations now, not at the first config
    except Exception as exc:
        raise PluginError(f"the settings of scheme {scheme!r} cannot be read: {exc}") from exc
    return settings


def _checked_capabilities(
    scheme: str, capabilities: Iterable[Capability] | None
) -> frozenset[Capability] | None:
    if capabilities is None:
        return None
    found = frozenset(capabilities)
    if bad := [c for c in found if not isinstance(c, Capability)]:
        raise PluginError(f"scheme {scheme!r} declares unknown capabilities {bad!r}")
    return found


def _who(spec: BackendSpec) -> str:
    return f"{spec.plugin!r} ({spec.distribution or 'unknown distribution'})"


def replica_client_registry(pm: pluggy.PluginManager) -> Mapping[str, BackendSpec]:
    """Scheme -> how to build its clients, from ``litestream_register_replica_clients``.

    :raises PluginConflictError: two plugins claim one scheme and neither overrides.
    """

    def build() -> Mapping[str, BackendSpec]:
        registry: dict[str, BackendSpec] = {}
        overriding: dict[str, bool] = {}
        for spec, wants in _registrations(pm):
            current = registry.get(spec.scheme)
            if current is None:
                registry[spec.scheme], overriding[spec.scheme] = spec, wants
                continue
            if wants == overriding[spec.scheme]:
                raise PluginConflictError(
                    f"URL scheme {spec.scheme!r} is registered by both plugin {_who(current)} "
                    f"and plugin {_who(spec)}",
                    hint="uninstall one, or disable one with LITESTREAM_LOAD_PLUGINS",
                )
            # Exactly one of the two overrides: it wins, whichever came first.
            if wants:
                registry[spec.scheme] = replace(spec, overrides=current.plugin)
                overriding[spec.scheme] = True
            else:
                registry[spec.scheme] = replace(current, overrides=spec.plugin)
        return registry

    hook = "litestream_register_replica_clients"
    result: Mapping[str, BackendSpec] = _cached(pm, hook, "registry", build)
    return result


def _codec_registrations(pm: pluggy.PluginManager) -> list[tuple[str, _CodecSpec]]:
    hook = "litestream_register_compressors"
    result: list[tuple[str, _CodecSpec]] = _cached(pm, hook, "codecs", lambda: _collect_codecs(pm))
    return result


def _collect_codecs(pm: pluggy.PluginManager) -> list[tuple[str, _CodecSpec]]:
    found: list[tuple[str, _CodecSpec]] = []
    for impl in _each_impl(pm, "litestream_register_compressors"):
        batch: list[tuple[str, _CodecSpec]] = []

        def register(
            name: str,
            codec: Compressor,
            *,
            override: bool = False,
            _impl: pluggy.HookImpl = impl,
            _batch: list[tuple[str, _CodecSpec]] = batch,
        ) -> None:
            from litestream_core.compression import Compressor

            if not isinstance(codec, Compressor):
                raise PluginError(f"codec {name!r} lacks name, compress or decompress")
            _batch.append((name, _CodecSpec(codec, _impl.plugin_name, override)))

        if _call_impl(pm, impl, {"register": register}):
            found.extend(batch)
    return found


def compressors(pm: pluggy.PluginManager) -> Mapping[str, Compressor]:
    """Codec name -> codec, from ``litestream_register_compressors`` (``lz4`` is built in).

    :raises PluginConflictError: two plugins register one name and neither overrides.
    """

    def build() -> Mapping[str, Compressor]:
        table: dict[str, _CodecSpec] = {}
        for name, spec in _codec_registrations(pm):
            current = table.get(name)
            if current is None or (spec.override and not current.override):
                table[name] = spec
            elif spec.override == current.override:
                raise PluginConflictError(
                    f"codec {name!r} is registered by both plugin {current.plugin!r} "
                    f"and plugin {spec.plugin!r}",
                    hint="uninstall one, or have one pass override=True",
                )
        return {name: spec.codec for name, spec in table.items()}

    result: Mapping[str, Compressor] = _cached(
        pm, "litestream_register_compressors", "table", build
    )
    return result


def page_codecs(pm: pluggy.PluginManager, write: str = "lz4") -> PageCodecs:
    """Every installed codec for reading LTX pages, writing with ``write``.

    :raises CodecUnavailableError: no installed plugin provides ``write``.
    """
    from litestream_core.compression import PageCodecs

    return PageCodecs(compressors(pm), write)


def add_cli_commands(pm: pluggy.PluginManager, cli: click.Group) -> None:
    """Let plugins add commands; one that raises is reported and the CLI still works."""
    for impl in _each_impl(pm, "litestream_add_cli_commands"):
        _call_impl(pm, impl, {"cli": cli})


# -- Building clients ------------------------------------------------------------------


def make_replica_client(
    url: str | ReplicaURL,
    options: Mapping[str, Any] | BackendSettings | None = None,
    *,
    pm: pluggy.PluginManager | None = None,
) -> ReplicaClient:
    """The client for a replica URL, from whichever plugin serves its scheme.

    Only the chosen backend's SDK is imported, and only now.

    :param options: the replica's keys (YAML spelling), or settings already parsed
        (``ReplicaConfig.settings``).
    :raises ConfigError: no installed plugin serves the scheme (the message names the
        distribution to install), or an option the backend does not declare.
    """
    from litestream_core.settings import Settings

    pm = pm if pm is not None else default_plugin_manager()
    parsed = url if isinstance(url, ReplicaURL) else ReplicaURL.parse(url)
    if isinstance(options, Settings):
        options = options.as_options()
    client: ReplicaClient | None = pm.hook.litestream_make_replica_client(
        url=parsed, options=dict(options or {})
    )
    if client is None:
        raise _unknown_scheme(pm, parsed.scheme)
    return client


def replica_secrets(
    pm: pluggy.PluginManager, url: ReplicaURL, options: Mapping[str, Any]
) -> list[str]:
    """The secrets of a replica: its URL's password, the option values its backend
    declares secret (every option, if the backend declares nothing) and its age
    identities, for redaction."""
    found = [url.password] if url.password else []
    if isinstance(age := options.get("age"), Mapping):  # the API's encrypted replicas
        from litestream_core.encryption import load_age_keys

        found += load_age_keys(age, "options.age").secrets()
    spec = replica_client_registry(pm).get(url.scheme)
    if spec is None or spec.settings is None:
        return found + [str(v) for v in options.values() if isinstance(v, str)]
    secret = {i.key for i in spec.settings.describe() if i.secret}
    return found + [str(v) for k, v in options.items() if k in secret and v]


def replica_description(
    pm: pluggy.PluginManager, url: ReplicaURL, options: Mapping[str, Any]
) -> dict[str, str]:
    """What a log line may show of a replica: its type, bucket (or host) and path, and
    every option its backend declares and does not call secret (endpoint, region, ...).
    A backend that declares no settings gets none of its options shown: which are
    secret is unknown."""
    shown = {"replica": url.scheme}
    if url.host:
        shown["bucket"] = url.host
    if url.path:
        shown["path"] = url.path
    spec = replica_client_registry(pm).get(url.scheme)
    if spec is None or spec.settings is None:
        return shown
    public = {i.key for i in spec.settings.describe() if not i.secret}
    public -= {"bucket", "path", *RESERVED_FIELDS}
    for key, value in options.items():
        if key in public and value not in (None, ""):
            shown[key] = str(value)
    return shown


def _unknown_scheme(pm: pluggy.PluginManager, scheme: str) -> ConfigError:
    installed = ", ".join(sorted(replica_client_registry(pm))) or "none"
    failed = [s.name for s in plugin_statuses(pm) if not s.ok and s.status != "loaded"]
    note = f"; plugins not loaded: {', '.join(failed)} (see `litestream plugins`)" if failed else ""
    dist = FIRST_PARTY_SCHEMES.get(scheme)
    if dist is not None:
        return ConfigError(
            f"replica URL scheme {scheme!r} needs the {dist} distribution, which is not "
            f"installed (installed schemes: {installed}){note}",
            hint=f"pip install {dist}",
        )
    return ConfigError(
        f"unknown replica URL scheme {scheme!r}: no installed plugin serves it and no "
        f"first-party distribution exists for it (installed schemes: {installed}){note}"
    )


# -- Status ----------------------------------------------------------------------------


def plugin_statuses(pm: pluggy.PluginManager) -> list[PluginStatus]:
    """Every plugin the manager knows of: loaded, disabled, skipped or failed.

    Schemes and codecs are read from the registration hooks without resolving
    conflicts, so a conflict shows up here as two plugins listing one scheme.
    """
    state = _state(pm)
    schemes: dict[str, list[str]] = {}
    for spec, override in _registrations(pm):
        label = f"{spec.scheme} (override)" if override else spec.scheme
        schemes.setdefault(spec.plugin, []).append(label)
    codecs: dict[str, list[str]] = {}
    for name, codec in _codec_registrations(pm):
        codecs.setdefault(codec.plugin, []).append(name)
    unknown = _unknown_hooks(pm)
    registered = dict(pm.list_name_plugin())
    rows = list(state.rows.values())
    rows += [_Row(n, None, None, "loaded") for n in registered if n not in state.rows]
    statuses = []
    for row in rows:
        plugin = registered.get(row.name)
        hooks: tuple[str, ...] = ()
        if plugin is not None:
            hooks = tuple(sorted(c.name for c in pm.get_hookcallers(plugin) or ()))
        statuses.append(
            PluginStatus(
                name=row.name,
                distribution=row.distribution,
                version=row.version,
                status=row.status,
                schemes=tuple(schemes.get(row.name, ())),
                codecs=tuple(codecs.get(row.name, ())),
                hooks=hooks,
                unknown_hooks=unknown.get(row.name, ()),
                builtin=row.builtin,
            )
        )
    return statuses
