"""WebDAV replica settings from a URL or Go's ``webdav-*`` config keys, as Go derives them.

Pure Python (no httpx), so it is cheap to import and test. ``timeout`` bounds the wait
for the next bytes of a request (30 s by default, Go's fixed value), as for every network
backend here. Go's rules
(``newWebDAVReplicaClientFromConfig`` and the URL factory): ``webdav://`` means http and
``webdavs://`` https; a URL's user and password apply unless ``webdav-username`` or
``webdav-password`` are set; a config without ``url`` needs ``webdav-url``, and a config
may not give both. Files live at ``<path>/ltx/<level>/<min>-<max>.ltx`` under the server
URL, as Go's client puts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from litestream_core.backend_support.paths import go_join
from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError
from litestream_core.ltx.header import format_filename

DEFAULT_TIMEOUT = 30.0
"""The ``timeout`` key's default: Go's ``webdav.DefaultTimeout``."""


@dataclass(frozen=True, slots=True)
class WebDAVSettings:
    server: str
    """``http(s)://host[:port][/root]``: the server URL every path is relative to."""
    path: str
    """The replica's directory under the server URL."""
    username: str = ""
    password: str = ""
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:
        # The password is a secret: keep it out of logs and tracebacks.
        return f"WebDAVSettings(server={self.server!r}, path={self.path!r}, user={self.username!r})"

    @property
    def host(self) -> str:
        """``host[:port]`` of the server, for messages."""
        return urlsplit(self.server).netloc

    def remote_path(self, *parts: str) -> str:
        """The absolute path on the server of ``parts`` under the replica's directory."""
        root = urlsplit(self.server).path
        return "/" + go_join(root, self.path, *parts).lstrip("/")

    def url(self, remote_path: str) -> str:
        """The full URL of a path from ``remote_path``, percent-encoded."""
        parts = urlsplit(self.server)
        return f"{parts.scheme}://{parts.netloc}{quote(remote_path)}"

    def level_dir(self, level: int) -> str:
        return self.remote_path("ltx", str(level))

    def file_path(self, level: int, min_txid: int, max_txid: int) -> str:
        return self.remote_path("ltx", str(level), format_filename(min_txid, max_txid))


def _option(options: Mapping[str, Any], key: str) -> str:
    value = options.get(key)
    return "" if value is None else str(value)


def settings_from(url: ReplicaURL, options: Mapping[str, Any]) -> WebDAVSettings:
    """Settings for one replica; raises ConfigError for anything Go would reject."""
    server = _option(options, "webdav-url")
    username = _option(options, "webdav-username")
    password = _option(options, "webdav-password")
    # The core's config puts `path` in options for a replica given by type, not by URL.
    if "path" in options:
        path = _option(options, "path")
        if not server:
            raise ConfigError(
                "webdav-url required for webdav replica",
                hint="set webdav-url: http://host[:port], or use url: webdav://host/path",
            )
    else:
        if server:
            raise ConfigError("cannot specify url & webdav-url for webdav replica")
        if not url.host:
            raise ConfigError(f"host required for webdav replica URL: {url.redacted()}")
        netloc = urlsplit(url.raw).netloc.rpartition("@")[2] if url.raw else url.host
        server = f"{'https' if url.scheme == 'webdavs' else 'http'}://{netloc}"
        username = username or (url.username or "")
        password = password or (url.password or "")
        path = url.path
    if not server.startswith(("http://", "https://")):
        raise ConfigError(f"webdav-url must start with http:// or https://, got {server!r}")
    return WebDAVSettings(
        server=server.rstrip("/"),
        path=path,
        username=username,
        password=password,
        timeout=timeout_option(options, "webdav", DEFAULT_TIMEOUT),
    )
