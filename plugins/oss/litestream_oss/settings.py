"""OSS replica settings from a URL and Go's keys, turned into S3-compatible ones.

Pure Python (no SDK). Go's rules (``newOSSReplicaClientFromConfig``, ``oss.ParseHost``):
config keys win over the URL, a URL cannot be combined with ``bucket``, the region
defaults to ``cn-hangzhou``, an endpoint without a scheme gets ``https://``, and keys
come from ``access-key-id``/``secret-access-key`` or else the ``OSS_ACCESS_KEY_ID`` and
``OSS_ACCESS_KEY_SECRET`` variables (the Alibaba SDK's environment provider).

The client speaks OSS's S3-compatible API, whose endpoint for a region is
``https://s3.oss-<region>.aliyuncs.com`` (virtual-hosted buckets); an OSS endpoint
given in Go's form (``oss-<region>[-internal].aliyuncs.com``) is mapped to it, and any
other endpoint (a proxy, a local test server) is used as given, path-style when its
host is an IP address or ``localhost``, as Alibaba's SDKs do.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from litestream_s3.settings import (
    DEFAULT_TIMEOUT,
    Credentials,
    S3Settings,
    parse_byte_size,
    parse_positive_int,
    replica_path,
)

from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError

DEFAULT_REGION = "cn-hangzhou"
DEFAULT_CONCURRENCY = 3
"""Parts in flight per upload (the Alibaba SDK's uploader default, as in Go)."""
DEFAULT_PART_SIZE = 5 * 1024 * 1024
MIN_PART_SIZE = 100 * 1024
"""OSS's smallest multipart part."""

# bucket.oss-cn-hangzhou.aliyuncs.com, and the -internal form (region without the suffix).
_OSS_HOST = re.compile(r"^(?:([^.]+)\.)?oss-([^.]+)\.aliyuncs\.com$")
_OSS_INTERNAL_HOST = re.compile(r"^(?:([^.]+)\.)?oss-(.+?)-internal\.aliyuncs\.com$")
_OSS_API_ENDPOINT = re.compile(r"^oss-[^.]+\.aliyuncs\.com$")


def parse_host(host: str) -> tuple[str, str]:
    """Go's ``oss.ParseHost``: (bucket, region) of a URL host; a plain host is the bucket."""
    for pattern in (_OSS_INTERNAL_HOST, _OSS_HOST):
        if m := pattern.match(host):
            return m[1] or "", m[2] or ""
    return host, ""


def s3_endpoint(endpoint: str, region: str) -> tuple[str, bool]:
    """(S3-compatible endpoint URL, path style) for Go's ``endpoint`` and region."""
    if not endpoint:
        return f"https://s3.oss-{region}.aliyuncs.com", False
    if not endpoint.startswith(("http://", "https://")):
        endpoint = "https://" + endpoint
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if _OSS_API_ENDPOINT.match(host):
        return f"{parts.scheme}://s3.{parts.netloc}", False
    return endpoint.rstrip("/"), _is_ip_or_localhost(host)


def _is_ip_or_localhost(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _option(options: Mapping[str, Any], key: str) -> Any:
    value = options.get(key)
    return None if value == "" else value


def settings_from(
    url: ReplicaURL, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> S3Settings:
    """S3-compatible settings for one OSS replica; ConfigError for what Go rejects."""
    env = os.environ if environ is None else environ
    by_url = "path" not in options  # the core's config form puts `path` in options
    if by_url and _option(options, "bucket"):
        raise ConfigError("cannot specify url & bucket for oss replica")
    ubucket, uregion = parse_host(url.host) if by_url else ("", "")
    bucket = str(_option(options, "bucket") or ubucket)
    if not bucket:
        raise ConfigError("bucket required for oss replica")
    region = str(_option(options, "region") or uregion or DEFAULT_REGION)
    endpoint, path_style = s3_endpoint(str(_option(options, "endpoint") or ""), region)

    part_size = DEFAULT_PART_SIZE
    if (part := _option(options, "part-size")) is not None:
        part_size = parse_byte_size(part)
    if part_size < MIN_PART_SIZE:
        raise ConfigError(f"oss: part-size must be at least {MIN_PART_SIZE} bytes, got {part_size}")
    concurrency = DEFAULT_CONCURRENCY
    if (conc := _option(options, "concurrency")) is not None:
        concurrency = parse_positive_int(conc, "concurrency")

    return S3Settings(
        bucket=bucket,
        path=replica_path(url, options),
        region=region,
        endpoint=endpoint,
        force_path_style=path_style,
        # OSS wants Content-MD5 on multi-object deletes; no aws-chunked bodies (the
        # client asks for checksums only when required whenever an endpoint is set).
        require_content_md5=True,
        part_size=part_size,
        concurrency=concurrency,
        credentials=_credentials(options, env),
        timeout=timeout_option(options, "oss", DEFAULT_TIMEOUT),
    )


def _credentials(options: Mapping[str, Any], env: Mapping[str, str]) -> Credentials:
    key_id = str(_option(options, "access-key-id") or "")
    secret = str(_option(options, "secret-access-key") or "")
    if key_id and secret:
        return Credentials(key_id, secret, "access-key-id/secret-access-key in the config")
    env_id, env_secret = env.get("OSS_ACCESS_KEY_ID", ""), env.get("OSS_ACCESS_KEY_SECRET", "")
    if env_id and env_secret:
        return Credentials(
            env_id, env_secret, "the OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET variables"
        )
    raise ConfigError(
        "oss: no credentials",
        hint="set access-key-id and secret-access-key, or OSS_ACCESS_KEY_ID and "
        "OSS_ACCESS_KEY_SECRET",
    )
