"""Encrypted replicas: every file sealed with age before it reaches storage.

A replica block's ``age: {recipients: [...], identities: [...]}`` (Go v0.3's keys)
wraps that replica's client in ``EncryptedReplicaClient``; nothing else in the engine
or in any backend knows about encryption. The layout and what it hides are in
``docs/encryption.md``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.encryption.settings import AgeSettings
from litestream_core.errors import ConfigError

if TYPE_CHECKING:
    import pluggy

    from litestream_core.client import ReplicaClient, ReplicaURL
    from litestream_core.encryption.keys import AgeKeys


AGE_MODULES = ("cryptography", "bech32")
"""What the ``age`` extra of litestream-core installs."""


def load_age_keys(block: AgeSettings | Mapping[str, Any], where: str) -> AgeKeys:
    """An ``age:`` block's keys (the config's, or a mapping of the same keys from the
    embedding API); a ConfigError naming the extra when it is not installed (an
    encrypted replica must never be written in plain for want of a package)."""
    if not isinstance(block, AgeSettings | Mapping):
        raise ConfigError(f"{where}: expected a mapping with recipients and identities")
    settings = AgeSettings.from_options(block, where=where) if isinstance(block, Mapping) else block
    missing = [m for m in AGE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"{where}: encrypted replicas need {', '.join(missing)}, which is not installed",
            hint="pip install 'litestream-core[age]'",
        )
    from litestream_core.encryption.keys import age_keys

    return age_keys(settings, where)


def client_from_options(
    url: str | ReplicaURL,
    options: Mapping[str, Any] | None,
    pm: pluggy.PluginManager | None = None,
) -> ReplicaClient:
    """The replica's client from options holding a config replica block's keys, as the
    embedding API and the VFS take them: ``age`` (``{"recipients": [...],
    "identities": [...]}``) seals it. Imports cryptography only for such a replica."""
    from litestream_core.plugins import make_replica_client

    if not options or "age" not in options:
        return make_replica_client(url, options, pm=pm)
    from litestream_core.encryption.client import sealed_client

    rest = dict(options)
    keys = load_age_keys(rest.pop("age"), "options.age")
    return sealed_client(make_replica_client(url, rest, pm=pm), keys)
