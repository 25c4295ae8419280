"""Azure Blob Storage replica settings and key layout, as Go Litestream derives them.

URL form ``abs://[account@]container/path``; config keys ``account-name``,
``account-key``, ``sas-token``, ``endpoint``, ``bucket`` (the container) and ``path``.
Credentials are chosen as Go chooses them: a SAS token (config, then
``LITESTREAM_AZURE_SAS_TOKEN``), else a shared key (config, then
``LITESTREAM_AZURE_ACCOUNT_KEY``) with the account name, else DefaultAzureCredential.
Keys are ``path.Join(<path>, "ltx", <level>, <name>)``, the level in decimal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestream_core.backend_support.paths import LTXKeys, replica_path
from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.client import ReplicaURL
from litestream_core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Auth:
    """How to authenticate; ``kind`` is ``sas``, ``shared-key`` or ``default``."""

    kind: str
    secret: str
    source: str

    def __repr__(self) -> str:
        return f"Auth(kind={self.kind!r}, source={self.source!r})"


DEFAULT_TIMEOUT = 30.0
"""The ``timeout`` key's default: seconds to connect, and to wait for each next piece
of a response (the SDK waits up to 60 s to read)."""


@dataclass(frozen=True, slots=True)
class ABSSettings(LTXKeys):
    container: str
    path: str
    account_name: str
    endpoint: str
    auth: Auth
    timeout: float = DEFAULT_TIMEOUT


def settings_from(
    url: ReplicaURL, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ABSSettings:
    env = os.environ if environ is None else environ
    container = str(options.get("bucket") or url.host)
    if not container:
        raise ConfigError("bucket required for abs replica")
    account = str(options.get("account-name") or url.username or "")
    endpoint = str(options.get("endpoint") or "")
    if not endpoint:
        if not account:
            raise ConfigError(
                "abs: account name is required when endpoint is not specified",
                hint="use abs://ACCOUNT@container/path or set account-name",
            )
        endpoint = f"https://{account}.blob.core.windows.net"
    return ABSSettings(
        container=container,
        path=replica_path(url, options),
        account_name=account,
        endpoint=endpoint.rstrip("/"),
        auth=_auth(options, env, account),
        timeout=timeout_option(options, "abs", DEFAULT_TIMEOUT),
    )


def _auth(options: Mapping[str, Any], env: Mapping[str, str], account: str) -> Auth:
    if sas := str(options.get("sas-token") or ""):
        return Auth("sas", sas.removeprefix("?"), "the sas-token in the config")
    if sas := env.get("LITESTREAM_AZURE_SAS_TOKEN", ""):
        return Auth("sas", sas.removeprefix("?"), "the LITESTREAM_AZURE_SAS_TOKEN variable")
    key, source = str(options.get("account-key") or ""), "the account-key in the config"
    if not key:
        key, source = env.get("LITESTREAM_AZURE_ACCOUNT_KEY", ""), "LITESTREAM_AZURE_ACCOUNT_KEY"
    if key and account:
        return Auth("shared-key", key, f"the shared key for account {account!r} from {source}")
    return Auth("default", "", "DefaultAzureCredential (environment, managed identity, Azure CLI)")
