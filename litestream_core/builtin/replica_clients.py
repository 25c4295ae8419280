"""The core's fallback ``litestream_make_replica_client``: look the scheme up.

It runs last (``trylast``), so a plugin's ``tryfirst`` implementation can take over
particular URLs and a wrapper can decorate whatever client this returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from litestream_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from litestream_core.backends import BackendSpec
    from litestream_core.client import ReplicaClient, ReplicaURL


class SchemeRegistryFactory:
    """Builds clients from the registry that ``litestream_register_replica_clients`` fills.

    It holds a callable rather than the registry so plugins registered later are seen.
    """

    def __init__(self, registry: Callable[[], Mapping[str, BackendSpec]]) -> None:
        self._registry = registry

    @hookimpl(trylast=True)
    def litestream_make_replica_client(
        self, url: ReplicaURL, options: Mapping[str, Any]
    ) -> ReplicaClient | None:
        spec = self._registry().get(url.scheme)
        return None if spec is None else spec.build(url, options)
