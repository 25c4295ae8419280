"""The entry point: declares the backend's config keys and registers the ``example``
scheme, and imports nothing heavy.

``litestream --help`` and ``litestream plugins`` load every plugin, so this module
imports only litestream_core; the client (and any SDK it needs) is imported by the
factory, when a replica uses the scheme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, Duration, Setting

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class ExampleKeys(BackendSettings):
    """The backend's YAML keys: the config accepts them in an ``example://`` replica (and
    at the top level), checks their types, and ``litestream plugins -v`` lists them.
    ``example-token`` is this backend's own; ``timeout`` is the key every network backend
    takes."""

    example_token: Annotated[str | None, Setting("API token of the server", secret=True)] = None
    timeout: Annotated[
        Duration | None, Setting("deadline on each request's progress (default 30s)", gt=0)
    ] = None


def make_client(url: ReplicaURL, settings: ExampleKeys) -> ReplicaClient:
    from litestream_example.client import ExampleReplicaClient

    return ExampleReplicaClient.from_url(url, settings.as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "example",
        make_client,
        settings=ExampleKeys,
        # What the conformance suite checks this backend for, and the core relies on.
        capabilities={
            Capability.ACCURATE_METADATA_TIMESTAMPS,
            Capability.RANGE_READS,
            Capability.CONDITIONAL_WRITES,
        },
        description="Example storage (example://host:port/path)",
    )
