"""Go Litestream's YAML configuration file, read the way the Go binary reads it.

The same ``litestream.yml`` must work with either tool, so the key names, the
``$VAR`` expansion of the whole text and the duration syntax follow Go. Where Go is
lax we are stricter on purpose: Go silently ignores a key it does not know, so a typo
(``monitor-intervall``) silently does nothing; here it is an error naming the key and
its line and column. A key Go knows but this port does not implement yet is a
warning, so a config written for Go still loads.

Every block's keys are declared as a ``litestream_core.settings.Settings`` class
below, and each installed backend declares its own replica keys when it registers
(``register(..., settings=...)``): adding a key is adding one annotated field. A
backend key given at the top level is a default for every replica whose backend
declares it inheritable, as Go's global replica settings are.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import os
import posixpath
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from litestream_core.client import ReplicaURL
from litestream_core.compression import FIRST_PARTY_CODECS, GO_CODEC
from litestream_core.engine.meta import META_DIR_SUFFIX as META_SUFFIX
from litestream_core.errors import ConfigError
from litestream_core.settings import (
    BackendSettings,
    ByteSize,
    Duration,
    Setting,
    SettingError,
    Settings,
    parse_duration,
    suggest,
)

if TYPE_CHECKING:
    import pluggy
    import yaml

    from litestream_core.backends import BackendSpec
    from litestream_core.client import ReplicaClient
    from litestream_core.encryption.keys import AgeKeys

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "GO_BACKEND_KEYS",
    "Config",
    "DBConfig",
    "DirConfig",
    "LoggingConfig",
    "ReplicaConfig",
    "default_config_path",
    "expand_env",
    "load_config",
    "parse_config",
    "parse_duration",
]

_S = TypeVar("_S", bound=Settings)

DEFAULT_CONFIG_PATH = "/etc/litestream.yml"
CONFIG_ENV = "LITESTREAM_CONFIG"

# -- Environment expansion -------------------------------------------------------------

_SHELL_SPECIAL = set("*#$@!?-0123456789")


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """Expand ``$VAR`` and ``${VAR}`` like Go's ``os.Expand`` with ``os.Getenv``.

    Unset variables become empty; ``$PID`` is this process's id, as in Go.
    """
    environ = os.environ if env is None else env

    def lookup(name: str) -> str:
        if name == "PID" and "PID" not in environ:
            return str(os.getpid())
        return environ.get(name, "")

    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "{":
            end = text.find("}", i + 2)
            if end == -1 or end == i + 2:
                i = n if end == -1 else end + 1  # bad syntax: Go drops it
                continue
            out.append(lookup(text[i + 2 : end]))
            i = end + 1
        elif nxt in _SHELL_SPECIAL:
            out.append(lookup(nxt))
            i += 2
        elif nxt.isalnum() or nxt == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_") and text[j].isascii():
                j += 1
            out.append(lookup(text[i + 1 : j]))
            i = j
        else:
            out.append("$")
            i += 1
    return "".join(out)


# -- Declared blocks ---------------------------------------------------------------------


class _GlobalKeys(Settings):
    """The top level's own scalar keys (blocks and replica defaults are handled apart)."""

    _label = "top level"

    exec: Annotated[str | None, Setting("command to run as a child; replication stops with it")] = (
        None
    )
    addr: Annotated[str | None, Setting("host:port of the Prometheus /metrics listener")] = None
    l0_retention: Annotated[
        Duration, Setting("how long L0 files stay after compaction into L1", ge=0)
    ] = 300.0
    l0_retention_check_interval: Annotated[
        Duration, Setting("how often L0 retention runs", gt=0)
    ] = 15.0
    shutdown_sync_timeout: Annotated[
        Duration, Setting("total time spent retrying the final sync on shutdown", ge=0)
    ] = 30.0
    shutdown_sync_interval: Annotated[
        Duration, Setting("pause between final sync attempts", gt=0)
    ] = 0.5
    mcp_addr: Annotated[str | None, Setting("host:port of the MCP server")] = None
    heartbeat_url: Annotated[str | None, Setting("URL pinged while every database syncs")] = None
    heartbeat_interval: Annotated[Duration, Setting("seconds between heartbeat pings")] = 300.0
    verify_compaction: Annotated[
        bool, Setting("after each compaction, check the level it wrote has no TXID gap")
    ] = False
    # v0.3-era and pre-release keys Go ignores: named in one warning (_OLD_GLOBAL_KEYS).


class SocketConfig(Settings):
    """``socket:``: the control socket the runtime commands talk to."""

    enabled: Annotated[bool, Setting("serve the control socket")] = False
    path: Annotated[str, Setting("its path")] = "/var/run/litestream.sock"
    permissions: Annotated[int, Setting("its file mode (0600, 0o660)")] = 0o600


class LeaseConfig(Settings):
    """``lease:`` (beyond Go): one replicator per replica path (``engine.lease``)."""

    enabled: Annotated[bool, Setting("take a lease on each replica before writing to it")] = True
    ttl: Annotated[Duration, Setting("a lease not renewed for this long is taken over", gt=0)] = (
        30.0
    )


class _SnapshotKeys(Settings):
    interval: Annotated[Duration, Setting("how often a full snapshot is taken", gt=0)] = 86400.0
    retention: Annotated[Duration, Setting("how long snapshots are kept", gt=0)] = 86400.0


class _DBSnapshotKeys(Settings):
    """A ``dbs:`` entry's ``snapshot:``: Go applies it to every database (see
    ``_Parser.db_snapshots``), so unset stays None rather than taking the default."""

    interval: Annotated[Duration | None, Setting("snapshot interval of every database", gt=0)] = (
        None
    )
    retention: Annotated[Duration | None, Setting("snapshot retention of every database", gt=0)] = (
        None
    )


class _ValidationKeys(Settings):
    interval: Annotated[
        Duration | None, Setting("how often every replica's levels are checked for TXID gaps", gt=0)
    ] = None


class _LevelKeys(Settings):
    interval: Annotated[Duration, Setting("compaction interval of this level", gt=0)] = 0.0


class _RetentionKeys(Settings):
    enabled: Annotated[bool, Setting("false: nothing is ever deleted from replicas")] = True


class LoggingConfig(Settings):
    level: Annotated[
        str, Setting("trace, debug, info, warn or error", choices=(
            "trace", "debug", "info", "warn", "warning", "error"))
    ] = "info"  # fmt: skip
    type: Annotated[str, Setting("text, json or pretty", choices=("text", "json", "pretty"))] = (
        "text"
    )
    stderr: Annotated[bool, Setting("log to stderr instead of stdout")] = False
    source: Annotated[bool, Setting("add file:line to each record")] = False


class _DBKeys(Settings):
    """A ``dbs:`` entry's scalar keys; None falls back to the engine's (Go's) default."""

    path: Annotated[str | None, Setting("the database file")] = None
    meta_path: Annotated[str | None, Setting("directory of the local LTX state")] = None
    monitor_interval: Annotated[Duration | None, Setting("WAL poll interval", gt=0)] = None
    checkpoint_interval: Annotated[
        Duration | None, Setting("time-based PASSIVE checkpoint; 0 disables", ge=0)
    ] = None
    busy_timeout: Annotated[Duration | None, Setting("SQLite busy timeout", gt=0)] = None
    min_checkpoint_page_count: Annotated[
        int | None, Setting("WAL pages that trigger a PASSIVE checkpoint", gt=0)
    ] = None
    truncate_page_n: Annotated[
        int | None, Setting("WAL pages that force a TRUNCATE checkpoint", ge=0)
    ] = None
    restore_if_db_not_exists: Annotated[
        bool, Setting("restore from the replica first when the database is missing")
    ] = False
    max_sync_wal_bytes: Annotated[
        ByteSize | None, Setting("WAL bytes turned into one L0 file per step; 0: no limit", ge=0)
    ] = None
    allow_app_checkpoints: Annotated[
        bool,
        Setting(
            "no read lock between syncs, so the application's own TRUNCATE/RESTART "
            "checkpoints do not wait; after one only the changed pages are copied"
        ),
    ] = False
    dir: Annotated[str | None, Setting("directory whose SQLite databases are replicated")] = None
    pattern: Annotated[str | None, Setting("file name glob of the databases in 'dir'")] = None
    recursive: Annotated[bool, Setting("look for databases in subdirectories of 'dir' too")] = False
    watch: Annotated[bool, Setting("add and remove databases of 'dir' as files come and go")] = (
        False
    )
    meta_dir: Annotated[str | None, Setting("with 'dir': base of each database's meta path")] = None


class _ReplicaKeys(Settings):
    """A replica block's keys the engine itself uses, whatever the backend."""

    type: Annotated[str | None, Setting("backend, when there is no url", inherit=False)] = None
    url: Annotated[
        str | None, Setting("replica URL: its scheme picks the backend", inherit=False)
    ] = None
    path: Annotated[str | None, Setting("directory or key prefix", inherit=False)] = None
    sync_interval: Annotated[Duration | None, Setting("minimum gap between uploads", gt=0)] = None
    max_sync_ltx_files: Annotated[int | None, Setting("L0 uploads per batch; 0: all", ge=0)] = None
    stall_warning: Annotated[
        Duration | None, Setting("beyond Go: warn when this far behind without progress", ge=0)
    ] = None
    compression: Annotated[
        str | None, Setting("LTX page codec: lz4 (Go's, the default) or an installed plugin's")
    ] = None
    auto_recover: Annotated[
        bool | None,
        Setting("a missing or corrupt local LTX file is answered with a snapshot (always here)"),
    ] = None
    name: Annotated[
        str | None,
        Setting("beyond Go 0.5: the replica's name (default: its type), unique per database",
                inherit=False),
    ] = None  # fmt: skip
    catch_up_window: Annotated[
        Duration | None,
        Setting("beyond Go: with several replicas, how long local L0 files wait for this one "
                "while it is behind", gt=0),
    ] = None  # fmt: skip


_TOP_BLOCKS = {
    "dbs", "levels", "snapshot", "retention", "logging", "socket", "validation", "lease",
}  # fmt: skip
_DB_BLOCKS = {"replica", "replicas", "snapshot"}

GO_BACKEND_KEYS = frozenset({
    "access-key-id", "secret-access-key", "region", "bucket", "endpoint", "force-path-style",
    "sign-payload", "require-content-md5", "skip-verify", "storage-class", "part-size",
    "concurrency", "sse-customer-algorithm", "sse-customer-key", "sse-customer-key-path",
    "sse-kms-key-id", "sign-accept-encoding", "account-name", "account-key", "sas-token",
    "host", "user", "password", "key-path", "concurrent-writes", "host-key", "webdav-url",
    "webdav-username", "webdav-password", "jwt", "seed", "creds", "nkey", "username",
    "token", "tls", "root-cas", "client-cert", "client-key", "max-reconnects",
    "reconnect-wait", "timeout",
})  # fmt: skip
"""Go 0.5.17's replica keys (its ``ReplicaSettings``). Installed backends declare the
keys they take, with types; these are also accepted when no installed backend declares
them, so a config written for Go loads whichever backends are installed."""
_GO_NOT_INHERITED = {"part-size", "concurrency", "host-key", "webdav-url", "webdav-username",
                     "webdav-password"}  # fmt: skip
"""Go does not copy these top-level keys into each replica (for backends that declare
no settings; the others say so per key)."""

# Keys of earlier Go releases that Go 0.5.17 ignores: a config written for them starts,
# with one warning that names each (Go says nothing, so a user would not know). The
# text says where the key's meaning went, if anywhere.
_OLD_REPLICA_KEYS = {
    "validation-interval": "the top-level validation.interval checks",
    "retention": "v0.3; see the top-level snapshot.retention",
    "retention-check-interval": "v0.3",
    "snapshot-interval": "v0.3; see the top-level snapshot.interval",
    "upstream": "v0.4",
}
_OLD_DB_KEYS = {
    "max-checkpoint-page-count": "v0.3; see truncate-page-n",
    "monitor-delay-interval": "v0.4",
    "shadow-retention-count": "v0.4",
}
_OLD_GLOBAL_KEYS = {
    "skip-remote-deletion": "use retention.enabled: false",
}


# -- Parsed configuration ----------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaConfig:
    """One ``replica:`` block; ``options`` holds the backend's own keys as written."""

    type: str | None = None
    url: str | None = None
    path: str | None = None
    sync_interval: float | None = None
    max_sync_ltx_files: int | None = None
    stall_warning: float | None = None
    """Beyond Go: seconds behind without progress before a warning (0: never)."""
    compression: str | None = None
    """The page codec new LTX files are written with; None is LZ4, Go's."""
    name: str | None = None
    """Beyond Go 0.5 (Go 0.3's key): set by the user, else None; see ``display_name``."""
    catch_up_window: float | None = None
    """Beyond Go: seconds local L0 files are kept for this replica while it is behind,
    when the database has several replicas (None: the engine's default)."""
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Kept out of the repr: it may hold secrets; ``settings`` shows them redacted."""
    settings: BackendSettings | None = None
    """``options`` typed by the backend's declared settings (None: it declares none,
    or it is not installed)."""
    location: str = ""
    age: AgeKeys | None = None
    """``age:``: the replica's files are encrypted (Go v0.3's keys, which Go 0.5 rejects)."""

    def make_client(self, pm: pluggy.PluginManager | None = None) -> ReplicaClient:
        """The replica's client from its installed backend, sealed when the block has
        ``age:`` keys: every command that reads or writes a configured replica gets it
        here, so none can write plain files into an encrypted replica."""
        from litestream_core.plugins import make_replica_client

        url, options = self.replica_url()
        client = make_replica_client(url, options, pm=pm)
        if self.age is None:
            return client
        from litestream_core.encryption.client import sealed_client

        return sealed_client(client, self.age)

    def replica_url(self) -> tuple[ReplicaURL, dict[str, Any]]:
        """The URL and options a backend factory takes, as Go derives them.

        With ``url`` its scheme decides the backend; otherwise ``type`` (default
        ``file``) does, with ``bucket`` as host and ``path`` as path.
        """
        options = dict(self.options)
        if self.url:
            if self.path:
                raise ConfigError(f"{self.location}: cannot specify both 'url' and 'path'")
            url = ReplicaURL.parse(self.url)
            if "://" not in self.url:
                raise ConfigError(f"{self.location}: url must have a scheme: {self.url!r}")
            return url, options
        if self.path and "://" in self.path:
            raise ConfigError(f"{self.location}: 'path' must not be a URL; use 'url'")
        scheme = self.scheme
        host = str(options.get("bucket") or "")
        path = self.path or ""
        if scheme == "file":
            if not path:
                raise ConfigError(f"{self.location}: file replica needs a 'path'")
            path = str(Path(os.path.expanduser(path)).absolute())
        # Backends tell the config form from a URL by this key: Go keeps a config path
        # verbatim (S3 keys "/0000/..." for an empty one) but strips a URL's slash.
        options["path"] = path
        raw = f"{scheme}://{host}{path if path.startswith('/') or not path else '/' + path}"
        return ReplicaURL(scheme=scheme, host=host, path=path, raw=raw), options

    def below(self, rel: PurePosixPath) -> ReplicaConfig:
        """This replica moved down by ``rel``: where Go puts a ``dir:`` entry's database.

        A URL gets ``rel`` appended to its path; a config ``path`` is joined with it
        (a file replica's as a local path, an object store's as a key prefix).
        """
        if self.url:
            parts = urlsplit(self.url)
            base = parts.path.strip("/")
            added = quote(str(rel))
            path = "/" + (f"{base}/{added}" if base else added)
            return replace(self, url=urlunsplit(parts._replace(path=path)))
        if self.scheme == "file":
            path = str(Path(self.path or "") / rel)
        else:
            path = posixpath.join(self.path, str(rel)) if self.path else str(rel)
        settings = self.settings
        if settings is not None and any(i.attr == "path" for i in settings.describe()):
            settings = dataclasses.replace(settings, path=path)
        return replace(self, path=path, settings=settings)

    @property
    def display_name(self) -> str:
        """The replica's name: the one given, else its type as Go 0.3 named it
        (``file``, ``s3``): what ``restore -replica`` takes."""
        return self.name or self.scheme

    @property
    def scheme(self) -> str:
        """The backend's URL scheme: the url's, else ``type`` (``file`` by default)."""
        if self.url and "://" in self.url:
            return self.url.split("://", 1)[0].lower()
        return (self.type or "file").lower()


@dataclass(frozen=True)
class DBConfig:
    """One ``dbs:`` entry; ``None`` settings fall back to the engine's (Go's) defaults."""

    path: Path
    meta_path: str | None = None
    monitor_interval: float | None = None
    checkpoint_interval: float | None = None
    busy_timeout: float | None = None
    min_checkpoint_page_count: int | None = None
    truncate_page_n: int | None = None
    restore_if_db_not_exists: bool = False
    max_sync_wal_bytes: int | None = None
    allow_app_checkpoints: bool = False
    replica: ReplicaConfig | None = None
    """The first (often the only) replica."""
    location: str = ""
    replicas: tuple[ReplicaConfig, ...] = ()
    """Every replica, in config order (beyond Go 0.5, which allows one); filled from
    ``replica`` when only that is given."""

    def __post_init__(self) -> None:
        if not self.replicas and self.replica is not None:
            object.__setattr__(self, "replicas", (self.replica,))
        elif self.replicas and self.replica is None:
            object.__setattr__(self, "replica", self.replicas[0])

    def find_replica(self, name: str) -> ReplicaConfig | None:
        """The replica named ``name`` (see ``ReplicaConfig.display_name``), or None."""
        return next((r for r in self.replicas if r.display_name == name), None)

    def replicas_named(self, name: str | None) -> tuple[ReplicaConfig, ...]:
        """Every replica, or only the one named ``name`` (``-replica NAME``); an error
        listing the names there are when no replica has it."""
        if not name:
            return self.replicas
        found = self.find_replica(name)
        if found is None:
            names = ", ".join(r.display_name for r in self.replicas)
            raise ConfigError(f"no replica named {name!r} for {self.path} (its replicas: {names})")
        return (found,)


@dataclass(frozen=True)
class DirConfig:
    """A ``dbs:`` entry with ``dir:``: every SQLite database in a directory, as Go finds
    them (``litestream_core.engine.dirs`` scans and watches).

    ``template`` holds the entry's other keys; each database found gets a copy with its
    own path, meta path and replica location (base + its path relative to ``dir``).
    """

    dir: Path
    pattern: str
    recursive: bool = False
    watch: bool = False
    meta_dir: Path | None = None
    template: DBConfig = field(default_factory=lambda: DBConfig(path=Path("/")))
    location: str = ""

    def relative(self, path: Path) -> PurePosixPath | None:
        """``path`` relative to ``dir`` if this entry covers it (by place and pattern,
        not by content), else None."""
        try:
            rel = path.relative_to(self.dir)
        except ValueError:
            return None
        if not rel.parts or (len(rel.parts) > 1 and not self.recursive):
            return None
        if not fnmatch.fnmatchcase(rel.name, self.pattern):
            return None
        return PurePosixPath(*rel.parts)

    def database(self, path: Path) -> DBConfig:
        """The settings of the database at ``path`` (which this entry covers)."""
        rel = self.relative(path)
        if rel is None:
            raise ConfigError(f"{self.location}: {path} is not a database of {self.dir}")
        t = self.template
        meta = t.meta_path
        if self.meta_dir is not None:
            meta = str(self.meta_dir / f"{rel}{META_SUFFIX}")
        elif meta is not None:
            meta = str(Path(meta) / rel.parent / f".{rel.name}{META_SUFFIX}")
        replicas = tuple(r.below(rel) for r in t.replicas)
        return replace(t, path=path, meta_path=meta, replicas=replicas,
                       replica=replicas[0] if replicas else None,
                       location=f"{self.location} ({rel})")  # fmt: skip


@dataclass(frozen=True)
class Config:
    dbs: tuple[DBConfig, ...] = ()
    dirs: tuple[DirConfig, ...] = ()
    """``dbs:`` entries with ``dir:``; their databases are found when replication starts."""
    levels: tuple[float, ...] = (30.0, 300.0, 3600.0)
    snapshot_interval: float = 86400.0
    snapshot_retention: float = 86400.0
    l0_retention: float = 300.0
    l0_retention_check_interval: float = 15.0
    retention_enabled: bool = True
    exec: str | None = None
    addr: str | None = None
    """``host:port`` of the Prometheus ``/metrics`` listener; None means no listener."""
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    shutdown_sync_timeout: float = 30.0
    shutdown_sync_interval: float = 0.5
    socket: SocketConfig = field(default_factory=SocketConfig)
    lease: LeaseConfig = field(default_factory=LeaseConfig)
    mcp_addr: str | None = None
    heartbeat_url: str | None = None
    heartbeat_interval: float = 300.0
    """Seconds between heartbeat pings; Go's minimum is one minute."""
    verify_compaction: bool = False
    validation_interval: float | None = None
    """Seconds between checks of every replica's levels for TXID gaps; None: never."""
    warnings: tuple[str, ...] = ()
    source: str = ""

    def find_db(self, path: str | os.PathLike[str]) -> DBConfig | None:
        """The entry for a database path (absolute, ``~`` expanded), as restore looks it up.

        Beyond Go, a database of a ``dir:`` entry is found too (by its place and the
        pattern: it need not exist), with the replica location replication gives it.
        """
        wanted = _db_path(str(path))
        found = next((db for db in self.dbs if db.path == wanted), None)
        if found is None:
            found = next((d.database(wanted) for d in self.dirs if d.relative(wanted)), None)
        return found

    def secrets(self) -> list[str]:
        """Every secret the replicas hold (declared secret keys, URL passwords), for
        redacting log lines."""
        found = []
        for db in (*self.dbs, *(d.template for d in self.dirs)):
            for replica in db.replicas:
                if replica.settings is not None:
                    found += replica.settings.secrets()
                if replica.url and (password := ReplicaURL.parse(replica.url).password):
                    found.append(password)
                if replica.age is not None:
                    found += replica.age.secrets()
        return found


def default_config_path() -> str:
    return os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    expand: bool = True,
    pm: pluggy.PluginManager | None = None,
) -> Config:
    """Read and validate a config file; every problem is one ConfigError line.

    :param pm: the plugin manager whose backends declare replica keys; a fresh one
        with every installed plugin when None.
    """
    source = str(path) if path is not None else default_config_path()
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {source}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {source}: {exc}") from None
    return parse_config(text, source=source, expand=expand, pm=pm)


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    expand: bool = True,
    pm: pluggy.PluginManager | None = None,
) -> Config:
    if expand:
        text = expand_env(text)
    import yaml  # here: a replicate or restore given URLs never needs it

    try:
        doc = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    from litestream_core.plugins import compressors, get_plugin_manager, replica_client_registry

    pm = pm if pm is not None else get_plugin_manager()
    parser = _Parser(source, replica_client_registry(pm), frozenset(compressors(pm)))
    return parser.config(doc if doc is not None else _Node())


def _db_path(path: str) -> Path:
    for prefix in ("sqlite3://", "sqlite://"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return Path(os.path.expanduser(path)).absolute()


# -- YAML with positions -----------------------------------------------------------------


class _Node(dict[Any, Any]):
    """A YAML mapping that remembers where it and each of its keys were written."""

    positions: dict[Any, tuple[int, int]]
    start: tuple[int, int] | None

    def __init__(self) -> None:
        super().__init__()
        self.positions = {}
        self.start = None


@functools.cache
def _loader() -> type[yaml.SafeLoader]:
    """PyYAML's safe loader, with mappings that carry line and column numbers."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    return Loader


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    data = _Node()
    data.start = (node.start_mark.line + 1, node.start_mark.column + 1)
    yield data
    data.update(loader.construct_mapping(node))  # merges `<<` keys too
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str):
            data.positions[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)


def _positions(node: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    return dict(node.positions) if isinstance(node, _Node) else {}


# -- Walking the document ----------------------------------------------------------------


class _Parser:
    """Walks the YAML tree, keeping where each value came from for error messages."""

    def __init__(self, source: str, backends: Mapping[str, BackendSpec], codecs: Set[str]) -> None:
        self.source = source
        self.backends = backends
        self.codecs = codecs
        self.warnings: list[str] = []
        self.ignored: dict[str, tuple[str, list[str]]] = {}
        """Keys of earlier Go releases met: key -> (what became of it, where)."""
        declared: dict[str, bool] = {}
        for spec in backends.values():
            for info in spec.settings.describe() if spec.settings else ():
                declared[info.key] = declared.get(info.key, False) or info.inherit
        declared.pop("path", None)  # a core replica key
        self.backend_keys = GO_BACKEND_KEYS | set(declared)

    def fail(
        self, where: str, message: str, node: object = None, key: str | None = None
    ) -> ConfigError:
        position = None
        if isinstance(node, _Node):
            position = node.positions.get(key) if key is not None else node.start
        return SettingError(message, key=key or "", source=self.source, where=where,
                            position=position)  # fmt: skip

    def mapping(self, value: object, where: str) -> _Node:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {_kind(value)}")
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise self.fail(where, f"key {bad[0]!r} is not a string", value)
        if isinstance(value, _Node):
            return value
        node = _Node()
        node.update(value)
        return node

    def check_keys(
        self, node: _Node, where: str, known: Set[str], unsupported: Mapping[str, str]
    ) -> None:
        for key in node:
            if key in unsupported:
                self.ignored.setdefault(key, (unsupported[key], []))[1].append(where)
            elif key not in known:
                hint = suggest(key, [*known, *unsupported])
                raise self.fail(where, f"unknown key '{key}'{hint}", node, key)

    def section(
        self, cls: type[_S], node: _Node, where: str, *, positions: Mapping[str, Any] | None = None
    ) -> _S:
        """The declared keys of ``node`` as ``cls``; other keys are the caller's."""
        keys = cls.keys()
        return cls.from_options(
            {k: v for k, v in node.items() if k in keys},
            source=self.source,
            where=where,
            positions=_positions(node) if positions is None else positions,
        )

    def config(self, doc: object) -> Config:
        root = self.mapping(doc, "top level")
        if "age" in root:
            raise self.fail("top level", "'age' belongs inside a replica block", root, "age")
        self.check_keys(
            root, "top level",
            _GlobalKeys.keys() | _TOP_BLOCKS | _ReplicaKeys.keys() - {"name"} | self.backend_keys,
            {k: v for k, v in {**_OLD_GLOBAL_KEYS, **_OLD_REPLICA_KEYS}.items()
             if k not in _TOP_BLOCKS} | {"name": "it belongs inside a replica block"},
        )  # fmt: skip
        for key in ("type", "url", "path"):
            if key in root:
                raise self.fail("top level", f"'{key}' belongs inside a replica block", root, key)
        inherited = (_ReplicaKeys.keys() | self.backend_keys) - {"type", "url", "path", "name"}
        defaults = _Node()
        defaults.update({k: v for k, v in root.items() if k in inherited})
        defaults.positions = {k: p for k, p in _positions(root).items() if k in defaults}

        dbs_node = root.get("dbs") or []
        if not isinstance(dbs_node, list):
            raise self.fail("dbs", f"expected a list, got {_kind(dbs_node)}", root, "dbs")
        dbs: list[DBConfig] = []
        dirs: list[DirConfig] = []
        per_db_snapshots: list[tuple[str, _DBSnapshotKeys]] = []
        for i, node in enumerate(dbs_node):
            entry, snap = self.db(node, f"dbs[{i}]", defaults)
            if isinstance(entry, DirConfig):
                dirs.append(entry)
                per_db_snapshots.append((str(entry.dir), snap))
            else:
                dbs.append(entry)
                per_db_snapshots.append((str(entry.path), snap))
        seen: set[Path] = set()
        for db in dbs:
            if db.path in seen:
                raise self.fail(db.location, f"database listed twice: {db.path}")
            seen.add(db.path)

        top = self.section(_GlobalKeys, root, "top level")
        snapshot = self.snapshot(root.get("snapshot"), "snapshot")
        snapshot = self.db_snapshots(snapshot, root.get("snapshot"), per_db_snapshots)
        validation = _ValidationKeys()
        if root.get("validation") is not None:
            node = self.mapping(root["validation"], "validation")
            self.check_keys(node, "validation", _ValidationKeys.keys(), {})
            validation = self.section(_ValidationKeys, node, "validation")
        retention = _RetentionKeys()
        if root.get("retention") is not None:
            node = self.mapping(root["retention"], "retention")
            self.check_keys(node, "retention", _RetentionKeys.keys(), {})
            retention = self.section(_RetentionKeys, node, "retention")
        logging = LoggingConfig()
        if root.get("logging") is not None:
            node = self.mapping(root["logging"], "logging")
            self.check_keys(node, "logging", LoggingConfig.keys(), {})
            logging = self.section(LoggingConfig, node, "logging")
        levels = Config.levels if root.get("levels") is None else self.levels(root["levels"])
        return Config(
            dbs=tuple(dbs),
            dirs=tuple(dirs),
            levels=levels,
            snapshot_interval=snapshot.interval,
            snapshot_retention=snapshot.retention,
            l0_retention=top.l0_retention,
            l0_retention_check_interval=top.l0_retention_check_interval,
            retention_enabled=retention.enabled,
            exec=top.exec or None,
            addr=top.addr or None,
            logging=logging,
            shutdown_sync_timeout=top.shutdown_sync_timeout,
            shutdown_sync_interval=top.shutdown_sync_interval,
            socket=self.socket(root.get("socket")),
            lease=self.block(LeaseConfig, root.get("lease"), "lease"),
            mcp_addr=top.mcp_addr or None,
            verify_compaction=top.verify_compaction,
            validation_interval=validation.interval,
            **self.heartbeat(top, root),
            warnings=(*self.ignored_warning(), *self.warnings),
            source=self.source,
        )

    def ignored_warning(self) -> list[str]:
        """One warning naming every key of an earlier Go release the config holds, each
        once with the places it is at: a v0.3 config of many databases is one line."""
        if not self.ignored:
            return []

        def at(places: list[str]) -> str:
            unique = list(dict.fromkeys(places))
            more = f" and {len(unique) - 3} more" if len(unique) > 3 else ""
            return ", ".join(unique[:3]) + more

        keys = "; ".join(
            f"'{key}' ({at(places)}: {became})" for key, (became, places) in self.ignored.items()
        )
        return [f"{self.source}: keys of earlier Go releases ignored, as Go 0.5.17 does: {keys}"]

    def block(self, cls: type[_S], node: object, name: str) -> _S:
        """A top-level block of plain declared keys (absent: the defaults)."""
        if node is None:
            return cls()
        keys = self.mapping(node, name)
        self.check_keys(keys, name, cls.keys(), {})
        return self.section(cls, keys, name)

    def socket(self, node: object) -> SocketConfig:
        if node is None:
            return SocketConfig()
        sock = self.mapping(node, "socket")
        self.check_keys(sock, "socket", SocketConfig.keys(), {})
        if isinstance(raw := sock.get("permissions"), str) and re.fullmatch(r"0o[0-7]+", raw):
            sock["permissions"] = int(raw, 8)  # YAML 1.2 octal, as Go reads it
        keys = self.section(SocketConfig, sock, "socket")
        if not 0 <= keys.permissions <= 0o7777:
            raise self.fail("socket.permissions", f"not a file mode: {keys.permissions:#o}",
                            sock, "permissions")  # fmt: skip
        return keys

    def heartbeat(self, top: _GlobalKeys, root: _Node) -> dict[str, Any]:
        """``heartbeat-url`` and ``heartbeat-interval``, with Go's checks and words."""
        url = top.heartbeat_url or None
        if url is not None and not url.startswith(("http://", "https://")):
            message = f"heartbeat URL must be a valid HTTP or HTTPS URL (got {url})"
            raise self.fail("heartbeat-url", message, root, "heartbeat-url")
        if top.heartbeat_interval < 60:
            raise self.fail(
                "heartbeat-interval",
                f"heartbeat interval must be at least 1 minute (got {root['heartbeat-interval']})",
                root, "heartbeat-interval",
            )  # fmt: skip
        return {"heartbeat_url": url, "heartbeat_interval": top.heartbeat_interval}

    def levels(self, node: object) -> tuple[float, ...]:
        if not isinstance(node, list):
            raise self.fail("levels", f"expected a list, got {_kind(node)}")
        if len(node) > 8:
            raise self.fail("levels", "at most 8 compaction levels (L1..L8)")
        out = []
        for i, item in enumerate(node):
            level = self.mapping(item, f"levels[{i}]")
            self.check_keys(level, f"levels[{i}]", _LevelKeys.keys(), {})
            out.append(self.section(_LevelKeys, level, f"levels[{i}]").interval)
        return tuple(out)

    def snapshot(self, node: object, where: str) -> _SnapshotKeys:
        if node is None:
            return _SnapshotKeys()
        snap = self.mapping(node, where)
        self.check_keys(snap, where, _SnapshotKeys.keys(), {})
        return self.section(_SnapshotKeys, snap, where)

    def db_snapshots(
        self, snapshot: _SnapshotKeys, node: object, per_db: list[tuple[str, _DBSnapshotKeys]]
    ) -> _SnapshotKeys:
        """Go's rule for ``snapshot:`` inside ``dbs:`` entries: there is one snapshot
        schedule for all databases, so the entries that set one must agree, and their
        value applies to all unless the top-level ``snapshot:`` sets that key."""
        given = node if isinstance(node, dict) else {}
        for key, label in (("interval", "intervals"), ("retention", "retentions")):
            chosen: tuple[str, float] | None = None
            for name, snap in per_db:
                value = getattr(snap, key)
                if value is None:
                    continue
                if chosen is not None and chosen[1] != value:
                    raise self.fail("dbs", f"conflicting database snapshot {label}: {chosen[0]} "
                                    f"has {chosen[1]:g}s, {name} has {value:g}s")  # fmt: skip
                chosen = (name, value)
            if chosen is not None and given.get(key) is None:
                snapshot = replace(snapshot, **{key: chosen[1]})
        return snapshot

    def db(
        self, node: object, where: str, defaults: _Node
    ) -> tuple[DBConfig | DirConfig, _DBSnapshotKeys]:
        """A ``dbs:`` entry (a ``dir:`` entry is a DirConfig), and its own ``snapshot:``."""
        entry = self.mapping(node, where)
        self.check_keys(entry, where, _DBKeys.keys() | _DB_BLOCKS, _OLD_DB_KEYS)
        keys = self.section(_DBKeys, entry, where)
        if keys.path and keys.dir:
            raise self.fail(where, "cannot specify both 'path' and 'dir'", entry)
        if not keys.path and not keys.dir:
            raise self.fail(where, "must specify either 'path' or 'dir'", entry)
        if keys.dir and not keys.pattern:
            raise self.fail(where, "'pattern' is required when using 'dir'", entry)
        for key, value in (("pattern", keys.pattern), ("recursive", keys.recursive),
                           ("watch", keys.watch), ("meta-dir", keys.meta_dir)):  # fmt: skip
            if value and not keys.dir:
                raise self.fail(where, f"'{key}' can only be used with 'dir'", entry, key)
        if keys.meta_path and keys.meta_dir:
            raise self.fail(where, "cannot specify both 'meta-path' and 'meta-dir'", entry)
        if entry.get("replica") is not None and entry.get("replicas"):
            raise self.fail(where, "cannot specify both 'replica' and 'replicas'", entry)
        replicas = self.replicas(entry, where, defaults)
        snapshot = _DBSnapshotKeys()
        if entry.get("snapshot") is not None:
            snap = self.mapping(entry["snapshot"], f"{where}.snapshot")
            self.check_keys(snap, f"{where}.snapshot", _DBSnapshotKeys.keys(), {})
            snapshot = self.section(_DBSnapshotKeys, snap, f"{where}.snapshot")
        db = DBConfig(
            path=_db_path(keys.path or keys.dir or ""),
            meta_path=str(_db_path(keys.meta_path)) if keys.meta_path else None,
            monitor_interval=keys.monitor_interval,
            checkpoint_interval=keys.checkpoint_interval,
            busy_timeout=keys.busy_timeout,
            min_checkpoint_page_count=keys.min_checkpoint_page_count,
            truncate_page_n=keys.truncate_page_n or None,
            restore_if_db_not_exists=keys.restore_if_db_not_exists,
            max_sync_wal_bytes=keys.max_sync_wal_bytes,
            allow_app_checkpoints=keys.allow_app_checkpoints,
            replica=replicas[0] if replicas else None,
            replicas=replicas,
            location=where,
        )
        if not keys.dir:
            return db, snapshot
        directory = DirConfig(
            dir=db.path,
            pattern=keys.pattern or "",
            recursive=keys.recursive,
            watch=keys.watch,
            meta_dir=_db_path(keys.meta_dir) if keys.meta_dir else None,
            template=db,
            location=f"{self.source}: {where}",
        )
        return directory, snapshot

    def replicas(self, entry: _Node, where: str, defaults: _Node) -> tuple[ReplicaConfig, ...]:
        """``replica:`` or ``replicas:`` (any number here; Go 0.5 takes one), each
        with a name of its own within the database."""
        if entry.get("replica") is not None:
            return (self.replica(entry["replica"], f"{where}.replica", defaults),)
        nodes = entry.get("replicas") or []
        if not isinstance(nodes, list):
            raise self.fail(f"{where}.replicas", f"expected a list, got {_kind(nodes)}",
                            entry, "replicas")  # fmt: skip
        found = tuple(
            self.replica(node, f"{where}.replicas[{i}]", defaults, alone=len(nodes) == 1)
            for i, node in enumerate(nodes)
        )
        names: dict[str, int] = {}
        for i, replica in enumerate(found):
            name = replica.display_name
            if (first := names.setdefault(name, i)) != i:
                hint = "" if replica.name else "; give each its own 'name'"
                raise self.fail(
                    f"{where}.replicas[{i}]",
                    f"multiple replicas named '{name}' (also replicas[{first}]){hint}",
                    entry, "replicas",
                )  # fmt: skip
        if len({r.compression for r in found}) > 1:
            raise self.fail(
                f"{where}.replicas",
                "replicas of one database upload the same "
                "L0 files, so they must use one 'compression'",
                entry,
                "replicas",
            )
        return found

    def replica(
        self, node: object, where: str, defaults: _Node, *, alone: bool = True
    ) -> ReplicaConfig:
        """One replica block; ``alone``: the database's only one (a config Go reads)."""
        entry = self.mapping(node, where)
        # Go ignores a replica's name; a config Go reads (one replica) hears so.
        old = _OLD_REPLICA_KEYS | ({"name": "here it names the replica (restore -replica)"}
                                   if alone else {})  # fmt: skip
        self.check_keys(entry, where, _ReplicaKeys.keys() | self.backend_keys | {"age"},
                        old)  # fmt: skip
        given = {k: v for k, v in entry.items() if v is not None}
        positions = {**defaults.positions, **_positions(entry)}
        core = _ReplicaKeys.keys()
        merged = _Node()
        merged.update({k: v for k, v in {**defaults, **given}.items() if k in core})
        keys = self.section(_ReplicaKeys, merged, where, positions=positions)
        replica = ReplicaConfig(
            type=keys.type,
            url=keys.url,
            path=keys.path,
            sync_interval=keys.sync_interval,
            max_sync_ltx_files=keys.max_sync_ltx_files,
            stall_warning=keys.stall_warning,
            compression=self.compression(keys.compression, where, positions),
            name=self.replica_name(keys.name, where, positions),
            catch_up_window=keys.catch_up_window,
            location=f"{self.source}: {where}",
            age=self.age(entry, where),
        )
        return self.backend_options(replica, given, defaults, where, positions)

    def replica_name(
        self, name: str | None, where: str, positions: Mapping[str, tuple[int, int]]
    ) -> str | None:
        """A name usable on the command line (``restore -replica``) and in file names."""
        if name is None:
            return None
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
            raise SettingError(
                f"invalid replica name {name!r}: letters, digits, '.', '_' and '-', "
                "up to 64, starting with a letter or digit",
                key="name", source=self.source, where=f"{where}.name",
                position=positions.get("name"),
            )  # fmt: skip
        return name

    def compression(
        self, name: str | None, where: str, positions: Mapping[str, tuple[int, int]]
    ) -> str | None:
        """The replica's codec, installed; any but Go's gets one warning per replica."""
        if name is None or name.lower() == GO_CODEC:
            return None
        name = name.lower()
        if name not in self.codecs:
            dist = FIRST_PARTY_CODECS.get(name)
            raise SettingError(
                f"unknown compression '{name}' (installed: {', '.join(sorted(self.codecs))})",
                key="compression", source=self.source, where=f"{where}.compression",
                position=positions.get("compression"),
                hint=f"pip install {dist}" if dist else None,
            )  # fmt: skip
        self.warnings.append(
            f"{self.source}: {where}: compression '{name}': Go Litestream cannot restore "
            "this replica (it reads only lz4 pages)"
        )
        return name

    def backend_options(
        self,
        replica: ReplicaConfig,
        given: Mapping[str, Any],
        defaults: Mapping[str, Any],
        where: str,
        positions: Mapping[str, tuple[int, int]],
    ) -> ReplicaConfig:
        """The replica's backend keys: its own, and the top level's it inherits, typed.

        A backend that declared settings takes the keys it declared (inheriting those it
        marks inheritable); one that declared none, or is not installed, gets Go's keys
        as Go passes them.
        """
        scheme = replica.scheme
        spec = self.backends.get(scheme)
        own = {k: v for k, v in given.items() if k in self.backend_keys}
        if spec is None or spec.settings is None:
            inherit = GO_BACKEND_KEYS - _GO_NOT_INHERITED
            options = {**{k: v for k, v in defaults.items() if k in inherit}, **own}
            return replace(replica, options=options)
        declared = {info.key: info for info in spec.settings.describe() if info.key != "path"}
        for key in sorted(set(own) - set(declared)):
            self.warnings.append(
                f"{self.source}: {where}: '{key}' ignored: not a setting of the {scheme} backend"
            )
        inherited = {k: v for k, v in defaults.items() if k in declared and declared[k].inherit}
        options = {**inherited, **{k: v for k, v in own.items() if k in declared}}
        checked = dict(options)
        if not replica.url:
            checked["path"] = replica.path or ""
        settings = spec.settings.from_options(
            checked, source=self.source, where=where, positions=positions
        )
        return replace(replica, options=options, settings=settings)

    def age(self, entry: _Node, where: str) -> AgeKeys | None:
        """The replica's ``age:`` keys: their shape checked as a declared section, then
        each key parsed (an error names the block's line, never a key)."""
        if entry.get("age") is None:
            return None
        from litestream_core.encryption import load_age_keys  # the age extra: only when asked
        from litestream_core.encryption.settings import AgeSettings

        block = f"{where}.age"
        if not isinstance(entry["age"], dict):
            raise self.fail(block, f"expected a mapping, got {_kind(entry['age'])}", entry, "age")
        node = self.mapping(entry["age"], block)
        self.check_keys(node, block, AgeSettings.keys(), {})
        settings = self.section(AgeSettings, node, block)
        at = entry.positions.get("age")
        source = f"{self.source}: line {at[0]}, column {at[1]}" if at else self.source
        return load_age_keys(settings, f"{source}: {block}")


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else repr(value)
