"""S3 replica settings from a URL and config keys, derived the way Go Litestream does.

Pure Python (no SDK), so it is cheap to import and test. The rules follow Go's
``NewS3ReplicaClientFromConfig`` and ``s3.ParseHost``: config keys win over the URL, an
endpoint implies path-style addressing, and some S3-compatible providers get the
defaults they need (Tigris: no Content-MD5; B2, Filebase, MinIO, Supabase: path
style; R2: two upload streams).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from litestream_core.backend_support.paths import go_clean
from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError
from litestream_core.settings import parse_byte_size as byte_size

DEFAULT_REGION = "us-east-1"
MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest multipart part (and the SDKs' default part size)."""
DEFAULT_CONCURRENCY = 5
DEFAULT_TIMEOUT = 30.0
"""The ``timeout`` key's default. Go's client waits up to 24 hours; a store that stops
answering must be noticed and retried much sooner."""
R2_CONCURRENCY = 2
"""Cloudflare R2 limits concurrent multipart uploads."""

_AWS_HOST = re.compile(r"^(.+)\.s3(?:\.([^.]+))?\.amazonaws\.com$")
_DO_HOST = re.compile(r"^(?:(.+)\.)?([^.]+)\.digitaloceanspaces.com$")
_B2_HOST = re.compile(r"^(?:(.+)\.)?s3.([^.]+)\.backblazeb2.com$")
_FILEBASE_HOST = re.compile(r"^(?:(.+)\.)?s3.filebase.com$")
_SCALEWAY_HOST = re.compile(r"^(?:(.+)\.)?s3.([^.]+)\.scw\.cloud$")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Static keys and where they came from; ``None`` means the AWS default chain."""

    access_key_id: str
    secret_access_key: str
    source: str

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r})"


@dataclass(frozen=True, slots=True)
class S3Settings:
    bucket: str
    path: str
    region: str = ""
    endpoint: str = ""
    force_path_style: bool = False
    skip_verify: bool = False
    sign_payload: bool = True
    require_content_md5: bool = True
    sign_accept_encoding: bool = True
    """Send ``Accept-Encoding: identity`` inside the SigV4 signature, as Go's SDK does;
    false leaves it out, for stores behind a proxy that rewrites it (Go #1424)."""
    storage_class: str = ""
    part_size: int = MIN_PART_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    sse_customer_algorithm: str = ""
    sse_customer_key: bytes = b""
    """The raw 32-byte key (configured base64-encoded); empty means no SSE-C."""
    sse_kms_key_id: str = ""
    credentials: Credentials | None = None
    timeout: float = DEFAULT_TIMEOUT
    """Seconds to connect, and to wait for each next piece of a response or a send."""

    def __repr__(self) -> str:
        # The SSE-C key is a secret: keep it out of logs and tracebacks.
        return (
            f"S3Settings(bucket={self.bucket!r}, path={self.path!r}, region={self.region!r}, "
            f"endpoint={self.endpoint!r}, credentials={self.credentials!r})"
        )

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint with a scheme, as Go's client uses it (https unless given)."""
        if not self.endpoint:
            return None
        if self.endpoint.startswith(("http://", "https://")):
            return self.endpoint
        return "https://" + self.endpoint

    @property
    def is_tigris(self) -> bool:
        return is_tigris_endpoint(self.endpoint)

    @property
    def credential_source(self) -> str:
        return self.credentials.source if self.credentials else "the AWS default credential chain"


# -- Go's path and host rules ------------------------------------------------------------


def replica_path(url: ReplicaURL, options: Mapping[str, Any]) -> str:
    """The key prefix exactly as Go derives it.

    Go uses a config ``path`` verbatim but cleans a URL's path and strips its leading
    slash (so ``s3://bucket`` gives ``"."``). The core's config puts the config form's
    path in ``options``, which is how the two are told apart here.
    """
    if "path" in options:
        return str(options["path"] or "")
    return go_clean(url.path).removeprefix("/")


def url_host(url: ReplicaURL) -> str:
    """The URL's host with its port, unlowered, as Go's ``url.URL.Host``."""
    if url.raw and "://" in url.raw:
        return urlsplit(url.raw).netloc.rpartition("@")[2]
    return f"{url.host}:{url.port}" if url.port else url.host


def access_point(url: ReplicaURL) -> tuple[str, str] | None:
    """(bucket ARN, path) of an ``s3://arn:...:accesspoint/NAME/path`` URL, as Go splits it."""
    if not url.raw.lower().startswith("s3://arn:"):
        return None
    rest = url.raw[len("s3://") :].partition("?")[0]
    marker = rest.lower().find(":accesspoint/")
    if marker < 0:
        raise ConfigError(f"invalid s3 access point url: {url.raw}")
    name_start = marker + len(":accesspoint/")
    slash = rest.find("/", name_start)
    if slash < 0:
        return rest, ""
    path = go_clean("/" + rest[slash + 1 :]).removeprefix("/")
    return rest[:slash], "" if path == "." else path


def parse_host(host: str) -> tuple[str, str, str, bool]:
    """Go's ``s3.ParseHost``: (bucket, region, endpoint, force path style) of a URL host."""
    if ":" in host and ".com" not in host:
        bucket, dot, rest = host.partition(".")
        if dot:
            return bucket, DEFAULT_REGION, "http://" + rest, True
        return "", "", "http://" + host, True
    if m := _AWS_HOST.match(host):
        return m[1], m[2] or "", "", False
    if m := _DO_HOST.match(host):
        return m[1] or "", m[2], f"https://{m[2]}.digitaloceanspaces.com", False
    if m := _B2_HOST.match(host):
        return m[1] or "", m[2], f"https://s3.{m[2]}.backblazeb2.com", True
    if m := _FILEBASE_HOST.match(host):
        return m[1] or "", "", "s3.filebase.com", False
    if m := _SCALEWAY_HOST.match(host):
        return m[1] or "", m[2], f"s3.{m[2]}.scw.cloud", False
    return host, "", "", False


def endpoint_host(endpoint: str) -> str:
    """Go's ``extractEndpointHost``: lower-cased ``host[:port]``; empty with userinfo."""
    endpoint = endpoint.strip().lower()
    if endpoint.startswith(("http://", "https://")):
        netloc = urlsplit(endpoint).netloc
        if netloc:
            return "" if "@" in netloc else netloc
    return "" if "@" in endpoint.split("/", 1)[0] else endpoint


def is_local_endpoint(endpoint: str) -> bool:
    host = endpoint_host(endpoint)
    if ":" in host:
        host = host.rpartition(":")[0]
    if host in ("localhost", "127.0.0.1") or host.endswith((".local", ".localhost")):
        return True
    private = ("192.168.", "10.", "172.16.", "172.17.", "172.18.", "172.19.", "172.2")
    return host.startswith((*private, "172.30.", "172.31."))


def ensure_endpoint_scheme(endpoint: str) -> str:
    """Go's ``EnsureEndpointScheme``: http for local hosts, https for everything else."""
    if not endpoint or endpoint.startswith(("http://", "https://")):
        return endpoint
    return ("http://" if is_local_endpoint(endpoint) else "https://") + endpoint


def is_tigris_endpoint(endpoint: str) -> bool:
    return endpoint_host(endpoint) in ("fly.storage.tigris.dev", "t3.storage.dev")


def _provider(endpoint: str) -> set[str]:
    """Which S3-compatible providers Go recognises in an endpoint."""
    host = endpoint_host(endpoint)
    if not host:
        return set()
    found: set[str] = set()
    suffixes = {
        "hetzner": ".your-objectstorage.com",
        "digitalocean": ".digitaloceanspaces.com",
        "backblaze": ".backblazeb2.com",
        "scaleway": ".scw.cloud",
        "r2": ".r2.cloudflarestorage.com",
        "supabase": ".supabase.co",
    }
    found.update(name for name, suffix in suffixes.items() if host.endswith(suffix))
    if host == "s3.filebase.com":
        found.add("filebase")
    if is_tigris_endpoint(endpoint):
        found.add("tigris")
    known = (
        ".amazonaws.com", ".digitaloceanspaces.com", ".backblazeb2.com", ".filebase.com",
        ".scw.cloud", ".r2.cloudflarestorage.com", "tigris.dev", "t3.storage.dev", ".supabase.co",
    )  # fmt: skip
    if ":" in host and not any(k in host for k in known):
        found.add("minio")
    return found


# -- Value parsing -----------------------------------------------------------------------


def parse_bool(value: object, key: str) -> bool:
    """YAML booleans as they are; query strings the way Go's ``BoolQueryValue`` reads them."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "t", "yes"):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise ConfigError(f"s3: {key} must be true or false, got {value!r}")


def parse_positive_int(value: object, key: str) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else 0
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigError(f"s3: {key} must be a positive integer, got {value!r}")
    return number


def parse_byte_size(value: object, key: str = "part-size") -> int:
    """Go's ``ParseByteSize`` (go-humanize): ``10MB`` is 10**7, ``5MiB`` is 5 * 2**20."""
    try:
        return byte_size(value)
    except ValueError:
        raise ConfigError(
            f"s3: invalid {key} {value!r} (use a size such as 5MiB or 10MB)"
        ) from None


def _query(url: ReplicaURL, *names: str) -> str:
    for name in names:
        if url.query.get(name):
            return url.query[name]
    return ""


def _option(options: Mapping[str, Any], key: str) -> Any:
    value = options.get(key)
    return None if value == "" else value


# -- Assembling settings -----------------------------------------------------------------


def settings_from(
    url: ReplicaURL, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> S3Settings:
    """Settings for one replica; raises ConfigError for anything Go would reject."""
    env = os.environ if environ is None else environ
    arn = access_point(url)
    if arn is not None:
        # An access point ARN (arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME) names its region.
        ubucket, upath = arn
        parts = ubucket.split(":", 5)
        uendpoint, upath_style = "", False
        uregion = parts[3] if len(parts) > 3 else ""
    else:
        ubucket, uregion, uendpoint, upath_style = parse_host(url_host(url))
        upath = replica_path(url, options)

    if qendpoint := _query(url, "endpoint"):
        uendpoint = ensure_endpoint_scheme(qendpoint)
        upath_style = _query(url, "forcePathStyle", "force-path-style").lower() != "false"
    if qpath_style := _query(url, "forcePathStyle", "force-path-style"):
        upath_style = parse_bool(qpath_style, "forcePathStyle")

    bucket = str(_option(options, "bucket") or ubucket)
    if not bucket:
        raise ConfigError("bucket required for s3 replica")
    region = str(_option(options, "region") or _query(url, "region") or uregion)
    endpoint = str(_option(options, "endpoint") or uendpoint)

    path_style_opt = _option(options, "force-path-style")
    if path_style_opt is not None:
        force_path_style = parse_bool(path_style_opt, "force-path-style")
    else:
        force_path_style = bool(_option(options, "endpoint")) or upath_style

    def flag(key: str, query_name: str) -> bool | None:
        """A config flag, else its URL query parameter (camelCase or kebab-case), else None."""
        value = _option(options, key)
        if value is None:
            value = _query(url, query_name, key) or None
        return None if value is None else parse_bool(value, key)

    providers = _provider(endpoint)
    skip_verify = flag("skip-verify", "skipVerify") or False
    sign_payload = flag("sign-payload", "signPayload")
    md5 = flag("require-content-md5", "requireContentMD5")
    accept_encoding = flag("sign-accept-encoding", "signAcceptEncoding")
    if accept_encoding is None:
        # Google's frontend rewrites the header: Go never signs it there (#1394).
        accept_encoding = endpoint_host(endpoint) != "storage.googleapis.com"
    if md5 is None:
        md5 = "tigris" not in providers
    if path_style_opt is None and providers & {"filebase", "backblaze", "minio", "supabase"}:
        force_path_style = True

    concurrency = R2_CONCURRENCY if "r2" in providers else DEFAULT_CONCURRENCY
    if qconc := _query(url, "concurrency"):
        concurrency = parse_positive_int(qconc, "concurrency")
    if (conc := _option(options, "concurrency")) is not None:
        concurrency = parse_positive_int(conc, "concurrency")
    part_size = MIN_PART_SIZE
    if qpart := _query(url, "partSize", "part-size"):
        part_size = parse_positive_int(qpart, "partSize")
    if (part := _option(options, "part-size")) is not None:
        part_size = parse_byte_size(part)
    if part_size < MIN_PART_SIZE:
        raise ConfigError(f"s3: part-size must be at least {MIN_PART_SIZE} bytes, got {part_size}")

    storage_class = str(
        _option(options, "storage-class") or _query(url, "storageClass", "storage-class")
    )
    sse_algorithm, sse_key = _sse_customer(url, options)
    kms = str(_option(options, "sse-kms-key-id") or _query(url, "sseKmsKeyId", "sse-kms-key-id"))
    if sse_key and kms:
        raise ConfigError(
            "s3: cannot use both sse-customer-key and sse-kms-key-id; they are mutually exclusive"
        )
    if sse_key and endpoint:
        url_endpoint = endpoint if "://" in endpoint else "https://" + endpoint
        if url_endpoint.startswith("http://") and not _is_private_host(url_endpoint):
            raise ConfigError(
                "s3: sse-customer-key requires an HTTPS endpoint "
                "(HTTP is only allowed for localhost and private networks)"
            )

    return S3Settings(
        bucket=bucket,
        path=str(options["path"] or "") if "path" in options else upath,
        region=region,
        endpoint=endpoint,
        force_path_style=force_path_style,
        skip_verify=skip_verify,
        sign_payload=True if sign_payload is None else sign_payload,
        require_content_md5=md5,
        sign_accept_encoding=accept_encoding,
        storage_class=storage_class,
        part_size=part_size,
        concurrency=concurrency,
        sse_customer_algorithm=sse_algorithm,
        sse_customer_key=sse_key,
        sse_kms_key_id=kms,
        credentials=_credentials(options, env),
        timeout=timeout_option(options, "s3", DEFAULT_TIMEOUT),
    )


def _sse_customer(url: ReplicaURL, options: Mapping[str, Any]) -> tuple[str, bytes]:
    """The SSE-C algorithm and raw key, validated as Go validates them."""
    encoded = str(_option(options, "sse-customer-key") or "")
    if key_path := _option(options, "sse-customer-key-path"):
        try:
            encoded = Path(str(key_path)).expanduser().read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"s3: cannot read sse-customer-key-path {key_path!r}: {exc.strerror}"
            ) from None
    if not encoded:
        encoded = _query(url, "sseCustomerKey", "sse-customer-key")
    if not encoded:
        return "", b""
    algorithm = str(
        _option(options, "sse-customer-algorithm")
        or _query(url, "sseCustomerAlgorithm", "sse-customer-algorithm")
        or "AES256"
    )
    if algorithm != "AES256":
        raise ConfigError(f"s3: sse-customer-algorithm must be AES256, got {algorithm!r}")
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ConfigError("s3: sse-customer-key must be valid base64") from None
    if len(key) != 32:
        raise ConfigError(
            f"s3: sse-customer-key must be 256-bit (32 bytes) when decoded, got {len(key)} bytes"
        )
    want = _query(url, "sseCustomerKeyMD5", "sse-customer-key-md5")
    if want and want != base64.b64encode(hashlib.md5(key).digest()).decode():
        raise ConfigError("s3: sseCustomerKeyMD5 does not match sseCustomerKey")
    return algorithm, key


def _is_private_host(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def _credentials(options: Mapping[str, Any], env: Mapping[str, str]) -> Credentials | None:
    """Static keys from the config, else from LITESTREAM_* variables, else None (chain).

    Go copies ``LITESTREAM_ACCESS_KEY_ID``/``LITESTREAM_SECRET_ACCESS_KEY`` into the
    ``AWS_*`` variables when those are unset; here they are used directly, without
    changing the process environment.
    """
    key_id = str(_option(options, "access-key-id") or "")
    secret = str(_option(options, "secret-access-key") or "")
    if key_id and secret:
        return Credentials(key_id, secret, "access-key-id/secret-access-key in the config")
    env_id = (
        env["AWS_ACCESS_KEY_ID"]
        if "AWS_ACCESS_KEY_ID" in env
        else env.get("LITESTREAM_ACCESS_KEY_ID", "")
    )
    env_secret = (
        env["AWS_SECRET_ACCESS_KEY"]
        if "AWS_SECRET_ACCESS_KEY" in env
        else env.get("LITESTREAM_SECRET_ACCESS_KEY", "")
    )
    uses_litestream = "AWS_ACCESS_KEY_ID" not in env or "AWS_SECRET_ACCESS_KEY" not in env
    if env_id and env_secret and uses_litestream:
        source = "the LITESTREAM_ACCESS_KEY_ID/LITESTREAM_SECRET_ACCESS_KEY variables"
        return Credentials(env_id, env_secret, source)
    return None
