"""NATS replica settings from a URL and config keys, resolved the way Go Litestream does.

Kept apart from the client so that reading a config file never imports nats-py.

``nats://[user:pass@]host[:port][,host2:port2...]/bucket``: the host part names the
servers (comma-separated, as nats.go accepts it), the path names the object-store
bucket. Without a URL (``type: nats`` with ``bucket:``) the server is nats.go's
default, ``nats://127.0.0.1:4222``. Credentials follow Go's precedence: jwt+seed,
creds file, nkey, username+password, token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError
from litestream_core.settings import parse_duration

DEFAULT_SERVER = "nats://127.0.0.1:4222"
DEFAULT_MAX_RECONNECTS = -1
DEFAULT_RECONNECT_WAIT = 2.0
DEFAULT_TIMEOUT = 10.0
PING_INTERVAL = 120
MAX_PINGS_OUT = 2
RECONNECT_BUFFER = 8 << 20

_TRUE = {"1", "t", "true", "yes", "on"}
_FALSE = {"0", "f", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class NATSConfig:
    bucket: str
    servers: tuple[str, ...] = (DEFAULT_SERVER,)
    jwt: str = field(default="", repr=False)
    seed: str = field(default="", repr=False)
    creds: str = ""
    nkey: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    tls: bool = False
    root_cas: tuple[str, ...] = ()
    client_cert: str = ""
    client_key: str = ""
    max_reconnects: int = DEFAULT_MAX_RECONNECTS
    reconnect_wait: float = DEFAULT_RECONNECT_WAIT
    timeout: float = DEFAULT_TIMEOUT

    @property
    def display_servers(self) -> str:
        """Servers for messages: never with credentials."""
        return ",".join(self.servers)

    @property
    def uses_tls(self) -> bool:
        """As in nats.go, CA files or a client certificate imply a TLS connection."""
        return self.tls or bool(self.root_cas or self.client_cert)


def _text(options: Mapping[str, Any], key: str) -> str:
    value = options.get(key)
    return "" if value is None else str(value)


def _flag(options: Mapping[str, Any], key: str) -> bool:
    value = options.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigError(f"nats: {key} must be true or false, not {value!r}")


def _servers(netloc: str) -> tuple[str, ...]:
    """``a:1,b:2`` (userinfo already removed) as server URLs nats-py accepts."""
    hosts = [h.strip() for h in netloc.split(",") if h.strip()]
    return tuple(h if "://" in h else f"nats://{h}" for h in hosts)


def _split_url(url: ReplicaURL) -> tuple[tuple[str, ...], str, str, str]:
    """Servers, bucket and userinfo from the URL text itself.

    Read from the raw text because a list of servers is not a single host:port.
    """
    raw = urlsplit(url.raw)
    userinfo, _, hosts = raw.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return _servers(hosts), raw.path.strip("/"), unquote(user), unquote(password)


def _roots(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise ConfigError(f"nats: root-cas must be a list of files, not {value!r}")


def _max_reconnects(options: Mapping[str, Any]) -> int:
    value = options.get("max-reconnects")
    if value is None:
        return DEFAULT_MAX_RECONNECTS
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"nats: max-reconnects must be a number, not {value!r}") from None


def _duration(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key)
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return parse_duration(value, where=f"nats {key}")


def resolve_config(url: ReplicaURL, options: Mapping[str, Any]) -> NATSConfig:
    """Merge a replica's URL and config keys into settings; raises ConfigError."""
    bucket_key = _text(options, "bucket")
    servers: tuple[str, ...] = ()
    bucket = url_user = url_password = ""
    # The core turns a URL-less `type: nats` block into nats://<bucket>[/<path>]; that
    # host is the bucket, not a server, and the path is ignored, as Go ignores it.
    type_form = bool(bucket_key) and url.host == bucket_key and not (url.port or url.username)
    if "://" in url.raw and not type_form:
        servers, bucket, url_user, url_password = _split_url(url)
    bucket = bucket or bucket_key
    if not bucket:
        raise ConfigError("bucket required for NATS replica")
    client_cert, client_key = _text(options, "client-cert"), _text(options, "client-key")
    if bool(client_cert) != bool(client_key):
        raise ConfigError(
            "client-cert and client-key must both be specified for mutual TLS authentication"
        )
    return NATSConfig(
        bucket=bucket,
        servers=servers or (DEFAULT_SERVER,),
        jwt=_text(options, "jwt"),
        seed=_text(options, "seed"),
        creds=_text(options, "creds"),
        nkey=_text(options, "nkey"),
        username=_text(options, "username") or url_user,
        password=_text(options, "password") or url_password,
        token=_text(options, "token"),
        tls=_flag(options, "tls"),
        root_cas=_roots(options.get("root-cas")),
        client_cert=client_cert,
        client_key=client_key,
        max_reconnects=_max_reconnects(options),
        reconnect_wait=_duration(options, "reconnect-wait", DEFAULT_RECONNECT_WAIT),
        timeout=_duration(options, "timeout", DEFAULT_TIMEOUT),
    )
