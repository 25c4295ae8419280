"""What the core knows of one registered backend, and how it builds that backend's clients.

Kept apart from ``plugins`` (which fills the registry) so the core's own fallback
``litestream_make_replica_client`` (``builtin.replica_clients``) can use it without the
two modules importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestream_core.client import Capability, ClientFactory, ReplicaClient, ReplicaURL
from litestream_core.errors import PluginLoadError

if TYPE_CHECKING:
    from litestream_core.settings import BackendSettings


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """How to build clients for one URL scheme, and who said so."""

    scheme: str
    factory: ClientFactory
    plugin: str
    distribution: str | None
    description: str = ""
    overrides: str | None = None
    """The plugin whose registration of this scheme this one replaced (``override=True``)."""
    settings: type[BackendSettings] | None = None
    """The keys its replicas take; None for a backend that declared none (its factory
    then receives the options as a plain mapping)."""
    capabilities: frozenset[Capability] | None = None
    """What it declared at registration; None leaves the client class's own."""

    def build(self, url: ReplicaURL, options: Mapping[str, Any]) -> ReplicaClient:
        """A client for ``url``: options made typed settings, capabilities stamped.

        :raises SettingError: an option the backend does not declare, or a bad value.
        :raises PluginLoadError: the factory could not import its SDK.
        """
        if self.settings is None:
            argument: Any = dict(options)
        elif isinstance(options, self.settings):
            argument = options
        else:
            argument = self.settings.from_options(options, where=f"{self.scheme} replica")
        try:
            client = self.factory(url, argument)
        except ImportError as exc:
            # The factory imports the backend's SDK; a broken install shows up here.
            raise PluginLoadError(
                f"{self.distribution or self.plugin} cannot build a {url.scheme!r} client: "
                f"{exc}; reinstall it",
                plugin_name=self.plugin,
                distribution=self.distribution,
            ) from exc
        if self.capabilities is not None:
            client.capabilities = self.capabilities
        return client
