"""Go Litestream's YAML configuration file, read the way the Go binary reads it.

The same ``litestream.yml`` must work with either tool, so the key names, the
``$VAR`` expansion of the whole text and the duration syntax follow Go. Where Go is
lax we are stricter on purpose: Go silently ignores a key it does not know, so a typo
(``monitor-intervall``) silently does nothing; here it is an error naming the key and
where it is. A key Go knows but this port does not implement yet is a warning, so a
config written for Go still loads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError

DEFAULT_CONFIG_PATH = "/etc/litestream.yml"
CONFIG_ENV = "LITESTREAM_CONFIG"

# -- Durations ------------------------------------------------------------------------

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
    never what the author meant.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: invalid duration {value!r}")
    if isinstance(value, int | float) and value == 0:
        return 0.0
    if not isinstance(value, str):
        raise ConfigError(f"{where}: invalid duration {value!r} (write it with a unit, e.g. 1s)")
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
        raise ConfigError(f"{where}: invalid duration {value!r} (examples: 1s, 500ms, 1m30s)")
    return sign * total


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


# -- Key inventory ----------------------------------------------------------------------

# Replica keys every backend shares, handled by the engine itself.
_REPLICA_ENGINE_KEYS = {
    "type", "url", "path", "sync-interval", "max-sync-ltx-files", "stall-warning",
}  # fmt: skip
# Backend keys Go knows (ReplicaSettings): passed to the backend as options.
_BACKEND_KEYS = {
    "access-key-id", "secret-access-key", "region", "bucket", "endpoint", "force-path-style",
    "sign-payload", "require-content-md5", "skip-verify", "storage-class", "part-size",
    "concurrency", "sse-customer-algorithm", "sse-customer-key", "sse-customer-key-path",
    "sse-kms-key-id", "sign-accept-encoding", "account-name", "account-key", "sas-token",
    "host", "user", "password", "key-path", "concurrent-writes", "host-key", "webdav-url",
    "webdav-username", "webdav-password", "jwt", "seed", "creds", "nkey", "username",
    "token", "tls", "root-cas", "client-cert", "client-key", "max-reconnects",
    "reconnect-wait", "timeout",
}  # fmt: skip
# Go does not copy these global keys into each replica.
_NOT_INHERITED = {"part-size", "concurrency", "host-key", "webdav-url", "webdav-username",
                  "webdav-password"}  # fmt: skip
# Replica keys Go accepts but which do nothing here (yet).
_REPLICA_UNSUPPORTED = {
    "auto-recover": "not supported yet",
    "validation-interval": "has no effect (as in Go)",
    "name": "deprecated and ignored",
    "retention": "a v0.3 key; ignored",
    "retention-check-interval": "a v0.3 key; ignored",
    "snapshot-interval": "a v0.3 key; ignored",
}
_DB_KEYS = {
    "path", "meta-path", "monitor-interval", "checkpoint-interval", "busy-timeout",
    "min-checkpoint-page-count", "truncate-page-n", "replica", "replicas", "snapshot",
    "restore-if-db-not-exists",
}  # fmt: skip
_DB_UNSUPPORTED = {
    "dir": "directory replication is not supported yet",
    "pattern": "directory replication is not supported yet",
    "recursive": "directory replication is not supported yet",
    "watch": "directory replication is not supported yet",
    "meta-dir": "directory replication is not supported yet",
    "max-sync-wal-bytes": "not supported yet; each sync takes all new WAL frames",
}
_GLOBAL_KEYS = {
    "dbs", "levels", "snapshot", "l0-retention", "l0-retention-check-interval", "retention",
    "exec", "logging", "shutdown-sync-timeout", "shutdown-sync-interval", "addr",
    "socket", "mcp-addr", "heartbeat-url", "heartbeat-interval",
}  # fmt: skip
_GLOBAL_UNSUPPORTED = {
    "validation": "periodic validation is not supported yet",
    "verify-compaction": "not supported yet",
}
_LOG_LEVELS = {"trace", "debug", "info", "warn", "warning", "error"}


# -- Parsed configuration ----------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaConfig:
    """One ``replica:`` block; ``options`` holds the backend's own keys."""

    type: str | None = None
    url: str | None = None
    path: str | None = None
    sync_interval: float | None = None
    max_sync_ltx_files: int | None = None
    stall_warning: float | None = None
    """Beyond Go: seconds behind without progress before a warning (0: never)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    location: str = ""

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
        scheme = (self.type or "file").lower()
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
    replica: ReplicaConfig | None = None
    location: str = ""


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    type: str = "text"
    stderr: bool = False
    source: bool = False


@dataclass(frozen=True)
class SocketConfig:
    """``socket:``: the control socket the runtime commands talk to."""

    enabled: bool = False
    path: str = "/var/run/litestream.sock"
    permissions: int = 0o600


@dataclass(frozen=True)
class Config:
    dbs: tuple[DBConfig, ...] = ()
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
    mcp_addr: str | None = None
    heartbeat_url: str | None = None
    heartbeat_interval: float = 300.0
    """Seconds between heartbeat pings; Go's minimum is one minute."""
    warnings: tuple[str, ...] = ()
    source: str = ""

    def find_db(self, path: str | os.PathLike[str]) -> DBConfig | None:
        """The entry for a database path (absolute, ``~`` expanded), as restore looks it up."""
        wanted = _db_path(str(path))
        return next((db for db in self.dbs if db.path == wanted), None)


def default_config_path() -> str:
    return os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str] | None = None, *, expand: bool = True) -> Config:
    """Read and validate a config file; every problem is one ConfigError line."""
    source = str(path) if path is not None else default_config_path()
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {source}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {source}: {exc}") from None
    return parse_config(text, source=source, expand=expand)


def parse_config(text: str, *, source: str = "<config>", expand: bool = True) -> Config:
    if expand:
        text = expand_env(text)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    return _Parser(source).config(doc if doc is not None else {})


def _db_path(path: str) -> Path:
    for prefix in ("sqlite3://", "sqlite://"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    return Path(os.path.expanduser(path)).absolute()


class _Parser:
    """Walks the YAML tree, keeping where each value came from for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[str] = []

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def mapping(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {_kind(value)}")
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise self.fail(where, f"key {bad[0]!r} is not a string")
        return value

    def check_keys(
        self, node: Mapping[str, Any], where: str, known: set[str], unsupported: Mapping[str, str]
    ) -> None:
        for key in node:
            if key in unsupported:
                self.warnings.append(f"{self.source}: {where}: '{key}' ignored: {unsupported[key]}")
            elif key not in known:
                hint = _suggest(key, known | set(unsupported))
                raise self.fail(where, f"unknown key '{key}'{hint}")

    def duration(self, node: Mapping[str, Any], key: str, where: str) -> float | None:
        if node.get(key) is None:
            return None
        return parse_duration(node[key], where=f"{self.source}: {where}.{key}")

    def integer(self, node: Mapping[str, Any], key: str, where: str) -> int | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}.{key}", f"expected an integer, got {value!r}")
        return value

    def boolean(self, node: Mapping[str, Any], key: str, where: str) -> bool | None:
        value = node.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", f"expected true or false, got {value!r}")
        return value

    def string(self, node: Mapping[str, Any], key: str, where: str) -> str | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, dict | list):
            raise self.fail(f"{where}.{key}", f"expected a string, got {_kind(value)}")
        return str(value)

    def config(self, doc: object) -> Config:
        root = self.mapping(doc, "top level")
        if "age" in root:
            raise self.fail("top level", "'age' encryption was removed in Litestream v0.5")
        self.check_keys(
            root, "top level", _GLOBAL_KEYS | _REPLICA_ENGINE_KEYS | _BACKEND_KEYS,
            {**_GLOBAL_UNSUPPORTED, **_REPLICA_UNSUPPORTED},
        )  # fmt: skip
        for key in ("type", "url", "path"):
            if key in root:
                raise self.fail("top level", f"'{key}' belongs inside a replica block")
        defaults = {k: v for k, v in root.items() if k in _BACKEND_KEYS - _NOT_INHERITED}
        inherited = ("sync-interval", "max-sync-ltx-files", "stall-warning")
        defaults.update({k: root[k] for k in inherited if k in root})

        dbs_node = root.get("dbs") or []
        if not isinstance(dbs_node, list):
            raise self.fail("dbs", f"expected a list, got {_kind(dbs_node)}")
        parsed = (self.db(node, f"dbs[{i}]", defaults) for i, node in enumerate(dbs_node))
        dbs = [db for db in parsed if db is not None]
        seen: set[Path] = set()
        for db in dbs:
            if db.path in seen:
                raise self.fail(db.location, f"database listed twice: {db.path}")
            seen.add(db.path)

        cfg = Config(dbs=tuple(dbs), source=self.source)
        levels = cfg.levels
        if root.get("levels") is not None:
            levels = self.levels(root["levels"])
        snapshot = self.snapshot(root.get("snapshot"), "snapshot")
        snap_interval = snapshot.get("interval", cfg.snapshot_interval)
        snap_retention = snapshot.get("retention", cfg.snapshot_retention)
        for name, value in (("interval", snap_interval), ("retention", snap_retention)):
            if value <= 0:
                raise self.fail(f"snapshot.{name}", "must be greater than zero")
        l0_retention = self.duration(root, "l0-retention", "top level")
        if l0_retention is not None and l0_retention < 0:
            raise self.fail("l0-retention", "cannot be negative")
        l0_check = self.duration(root, "l0-retention-check-interval", "top level")
        if l0_check is not None and l0_check <= 0:
            raise self.fail("l0-retention-check-interval", "must be greater than zero")
        timeout = self.duration(root, "shutdown-sync-timeout", "top level")
        if timeout is not None and timeout < 0:
            raise self.fail("shutdown-sync-timeout", "cannot be negative")
        interval = self.duration(root, "shutdown-sync-interval", "top level")
        if interval is not None and interval <= 0:
            raise self.fail("shutdown-sync-interval", "must be greater than zero")
        retention_enabled = True
        if root.get("retention") is not None:
            retention = self.mapping(root["retention"], "retention")
            self.check_keys(retention, "retention", {"enabled"}, {})
            retention_enabled = self.boolean(retention, "enabled", "retention") is not False
        return Config(
            dbs=tuple(dbs),
            levels=levels,
            snapshot_interval=snap_interval,
            snapshot_retention=snap_retention,
            l0_retention=cfg.l0_retention if l0_retention is None else l0_retention,
            l0_retention_check_interval=l0_check or cfg.l0_retention_check_interval,
            retention_enabled=retention_enabled,
            exec=self.string(root, "exec", "top level") or None,
            addr=self.string(root, "addr", "top level") or None,
            logging=self.logging(root.get("logging")),
            shutdown_sync_timeout=cfg.shutdown_sync_timeout if timeout is None else timeout,
            shutdown_sync_interval=interval or cfg.shutdown_sync_interval,
            socket=self.socket(root.get("socket")),
            mcp_addr=self.string(root, "mcp-addr", "top level") or None,
            **self.heartbeat(root),
            warnings=tuple(self.warnings),
            source=self.source,
        )

    def socket(self, node: object) -> SocketConfig:
        if node is None:
            return SocketConfig()
        sock = self.mapping(node, "socket")
        self.check_keys(sock, "socket", {"enabled", "path", "permissions"}, {})
        if isinstance(raw := sock.get("permissions"), str) and re.fullmatch(r"0o[0-7]+", raw):
            sock = {**sock, "permissions": int(raw, 8)}  # YAML 1.2 octal, as Go reads it
        perms = self.integer(sock, "permissions", "socket")
        if perms is not None and not 0 <= perms <= 0o7777:
            raise self.fail("socket.permissions", f"not a file mode: {perms:#o}")
        return SocketConfig(
            enabled=bool(self.boolean(sock, "enabled", "socket")),
            path=self.string(sock, "path", "socket") or SocketConfig.path,
            permissions=SocketConfig.permissions if perms is None else perms,
        )

    def heartbeat(self, root: Mapping[str, Any]) -> dict[str, Any]:
        """``heartbeat-url`` and ``heartbeat-interval``, with Go's checks and words."""
        url = self.string(root, "heartbeat-url", "top level") or None
        if url is not None and not url.startswith(("http://", "https://")):
            message = f"heartbeat URL must be a valid HTTP or HTTPS URL (got {url})"
            raise self.fail("heartbeat-url", message)
        interval = self.duration(root, "heartbeat-interval", "top level")
        if interval is not None and interval < 60:
            raise self.fail(
                "heartbeat-interval",
                f"heartbeat interval must be at least 1 minute (got {root['heartbeat-interval']})",
            )
        return {"heartbeat_url": url, "heartbeat_interval": interval or Config.heartbeat_interval}

    def levels(self, node: object) -> tuple[float, ...]:
        if not isinstance(node, list):
            raise self.fail("levels", f"expected a list, got {_kind(node)}")
        if len(node) > 8:
            raise self.fail("levels", "at most 8 compaction levels (L1..L8)")
        out = []
        for i, item in enumerate(node):
            level = self.mapping(item, f"levels[{i}]")
            self.check_keys(level, f"levels[{i}]", {"interval"}, {})
            value = self.duration(level, "interval", f"levels[{i}]")
            if value is None or value <= 0:
                raise self.fail(f"levels[{i}].interval", "must be greater than zero")
            out.append(value)
        return tuple(out)

    def snapshot(self, node: object, where: str) -> dict[str, float]:
        if node is None:
            return {}
        snap = self.mapping(node, where)
        self.check_keys(snap, where, {"interval", "retention"}, {})
        out = {}
        for key in ("interval", "retention"):
            value = self.duration(snap, key, where)
            if value is not None:
                out[key] = value
        return out

    def logging(self, node: object) -> LoggingConfig:
        if node is None:
            return LoggingConfig()
        log = self.mapping(node, "logging")
        self.check_keys(log, "logging", {"level", "type", "stderr", "source"}, {})
        level = (self.string(log, "level", "logging") or "info").lower()
        if level not in _LOG_LEVELS:
            raise self.fail("logging.level", f"unknown level {level!r}")
        kind = (self.string(log, "type", "logging") or "text").lower()
        if kind not in {"text", "json", "pretty"}:
            raise self.fail("logging.type", f"unknown type {kind!r} (text, json or pretty)")
        return LoggingConfig(
            level=level,
            type=kind,
            stderr=bool(self.boolean(log, "stderr", "logging")),
            source=bool(self.boolean(log, "source", "logging")),
        )

    def db(self, node: object, where: str, defaults: Mapping[str, Any]) -> DBConfig | None:
        """A ``dbs:`` entry; None for a ``dir:`` entry, which is skipped with a warning."""
        entry = self.mapping(node, where)
        path = self.string(entry, "path", where)
        if entry.get("dir") is not None and path:
            raise self.fail(where, "specify only one of 'path' or 'dir'")
        self.check_keys(entry, where, _DB_KEYS, _DB_UNSUPPORTED)
        if entry.get("dir") is not None:
            self.warnings.append(f"{self.source}: {where}: skipped: 'dir' entries are not "
                                 "supported yet")  # fmt: skip
            return None
        if not path:
            raise self.fail(where, "'path' is required")
        if entry.get("replica") is not None and entry.get("replicas"):
            raise self.fail(where, "cannot specify both 'replica' and 'replicas'")
        replica_node = entry.get("replica")
        replica_where = f"{where}.replica"
        if entry.get("replicas"):
            replicas = entry["replicas"]
            if not isinstance(replicas, list):
                raise self.fail(f"{where}.replicas", f"expected a list, got {_kind(replicas)}")
            if len(replicas) > 1:
                raise self.fail(
                    f"{where}.replicas", "multiple replicas per database are not supported"
                )
            replica_node, replica_where = replicas[0], f"{where}.replicas[0]"
        snapshot = self.snapshot(entry.get("snapshot"), f"{where}.snapshot")
        if snapshot:
            self.warnings.append(
                f"{self.source}: {where}: per-database 'snapshot' ignored; use the global one"
            )
        min_pages = self.integer(entry, "min-checkpoint-page-count", where)
        if min_pages is not None and min_pages <= 0:
            raise self.fail(f"{where}.min-checkpoint-page-count", "must be greater than zero")
        truncate = self.integer(entry, "truncate-page-n", where)
        if truncate is not None and truncate < 0:
            raise self.fail(f"{where}.truncate-page-n", "cannot be negative")
        for key in ("monitor-interval", "busy-timeout"):
            interval = self.duration(entry, key, where)
            if interval is not None and interval <= 0:
                raise self.fail(f"{where}.{key}", "must be greater than zero")
        checkpoint = self.duration(entry, "checkpoint-interval", where)
        if checkpoint is not None and checkpoint < 0:
            raise self.fail(f"{where}.checkpoint-interval", "cannot be negative")
        meta_path = self.string(entry, "meta-path", where)
        return DBConfig(
            path=_db_path(path),
            meta_path=str(_db_path(meta_path)) if meta_path else None,
            monitor_interval=self.duration(entry, "monitor-interval", where),
            checkpoint_interval=checkpoint,
            busy_timeout=self.duration(entry, "busy-timeout", where),
            min_checkpoint_page_count=min_pages,
            truncate_page_n=truncate or None,
            restore_if_db_not_exists=bool(self.boolean(entry, "restore-if-db-not-exists", where)),
            replica=(
                None
                if replica_node is None
                else self.replica(replica_node, replica_where, defaults)
            ),
            location=where,
        )

    def replica(self, node: object, where: str, defaults: Mapping[str, Any]) -> ReplicaConfig:
        entry = self.mapping(node, where)
        if "age" in entry:
            raise self.fail(where, "'age' encryption was removed in Litestream v0.5")
        self.check_keys(entry, where, _REPLICA_ENGINE_KEYS | _BACKEND_KEYS, _REPLICA_UNSUPPORTED)
        merged = {**defaults, **{k: v for k, v in entry.items() if v is not None}}
        sync_interval = self.duration(merged, "sync-interval", where)
        if sync_interval is not None and sync_interval <= 0:
            raise self.fail(f"{where}.sync-interval", "must be greater than zero")
        max_files = self.integer(merged, "max-sync-ltx-files", where)
        if max_files is not None and max_files < 0:
            raise self.fail(f"{where}.max-sync-ltx-files", "cannot be negative")
        stall_warning = self.duration(merged, "stall-warning", where)
        if stall_warning is not None and stall_warning < 0:
            raise self.fail(f"{where}.stall-warning", "cannot be negative")
        return ReplicaConfig(
            type=self.string(entry, "type", where),
            url=self.string(entry, "url", where),
            path=self.string(entry, "path", where),
            sync_interval=sync_interval,
            max_sync_ltx_files=max_files,
            stall_warning=stall_warning,
            options={k: v for k, v in merged.items() if k in _BACKEND_KEYS},
            location=f"{self.source}: {where}",
        )


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else repr(value)


def _suggest(key: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""
