"""SFTP replica settings from a URL and config keys, resolved the way Go Litestream does.

Kept apart from the client so that reading a config file never imports paramiko.
Precedence follows Go's ``newSFTPReplicaClientFromConfig``: config keys win over the
URL's parts, and a URL cannot be combined with ``host`` or ``path``.

One deliberate difference: Go skips host-key verification (with a warning) when no
``host-key`` is given. Here the server's key must then be in a known_hosts file
(``~/.ssh/known_hosts``, ``/etc/ssh/ssh_known_hosts``, or ``known-hosts-path`` in the
URL query), and skipping verification takes an explicit ``skip-verify: true`` (a key
Go's config already accepts, so the same file still loads there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError

DEFAULT_PORT = 22
DEFAULT_TIMEOUT = 30.0
"""Seconds to connect and finish the SSH handshake (Go's fixed dial timeout), and the
deadline on each read or write of the connection after that (``timeout``)."""
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")

_QUERY_KEYS = ("known-hosts-path", "skip-verify")
"""Keys a URL query may set; Go reads no query for sftp, so only these extras."""
_TRUE = {"1", "t", "true", "yes", "on"}
_FALSE = {"0", "f", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class SFTPConfig:
    host: str
    port: int
    user: str
    path: str
    password: str = field(default="", repr=False)
    key_path: str = ""
    host_key: str = ""
    """The server's public key, one line in authorized_keys format (Go's ``host-key``)."""
    known_hosts: tuple[str, ...] = DEFAULT_KNOWN_HOSTS
    skip_verify: bool = False
    concurrent_writes: bool = True
    timeout: float = DEFAULT_TIMEOUT

    @property
    def address(self) -> str:
        """``host:port`` for messages (never includes credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH names this server in known_hosts files."""
        if self.port == DEFAULT_PORT:
            return self.host
        return f"[{self.host}]:{self.port}"


def _option(options: Mapping[str, Any], key: str) -> Any:
    """A key in its YAML spelling, or in the camelCase a URL query might use."""
    if key in options:
        return options[key]
    head, *rest = key.split("-")
    camel = head + "".join(part.title() for part in rest)
    return options.get(camel)


def _text(options: Mapping[str, Any], key: str) -> str:
    value = _option(options, key)
    return "" if value is None else str(value)


def _flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = _option(options, key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"sftp: {key} must be true or false, not {value!r}")


def split_host_port(host: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; port 22 when absent (as Go)."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ConfigError(f"sftp: invalid host {host!r}")
        name, rest = host[1:end], host[end + 1 :]
        if not rest:
            return name, DEFAULT_PORT
        if not rest.startswith(":"):
            raise ConfigError(f"sftp: invalid host {host!r}")
        port_text = rest[1:]
    elif host.count(":") == 1:
        name, port_text = host.split(":")
    else:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"sftp: invalid port in host {host!r}")
    return name, int(port_text)


def resolve_config(url: ReplicaURL, options: Mapping[str, Any]) -> SFTPConfig:
    """Merge a replica's URL and config keys into settings; raises ConfigError."""
    has_url = "://" in url.raw
    query = {k: v for k, v in url.query.items() if k in _QUERY_KEYS}
    options = {**query, **options}
    host, user = _text(options, "host"), _text(options, "user")
    password, path = _text(options, "password"), _text(options, "path")
    if has_url and path and url.path and path != url.path:
        raise ConfigError("cannot specify url & path for sftp replica")
    if has_url and host and url.host:
        raise ConfigError("cannot specify url & host for sftp replica")
    if has_url:
        if not host and url.host:
            url_host = f"[{url.host}]" if ":" in url.host else url.host
            host = f"{url_host}:{url.port}" if url.port else url_host
        user = user or (url.username or "")
        password = password or (url.password or "")
        path = path or url.path
    if not host:
        raise ConfigError("host required for sftp replica")
    if not user:
        raise ConfigError("user required for sftp replica")
    name, port = split_host_port(host)
    known_hosts = _text(options, "known-hosts-path")
    key_path = _text(options, "key-path")
    return SFTPConfig(
        host=name,
        port=port,
        user=user,
        path=path,
        password=password,
        key_path=os.path.expanduser(key_path) if key_path else "",
        host_key=_text(options, "host-key").strip(),
        known_hosts=(known_hosts,) if known_hosts else DEFAULT_KNOWN_HOSTS,
        skip_verify=_flag(options, "skip-verify", False),
        concurrent_writes=_flag(options, "concurrent-writes", True),
        timeout=timeout_option(options, "sftp", DEFAULT_TIMEOUT),
    )
