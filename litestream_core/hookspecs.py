"""Every hook a Litestream plugin can implement, grouped by lifecycle.

Hooks are synchronous and cheap: network I/O belongs in ReplicaClient methods, and
SDK imports belong inside the factories a plugin registers, so listing plugins or
running ``litestream --help`` never imports boto3 and friends. Only
``litestream_core.plugins`` calls these hooks, always with keyword arguments.

Implementations may accept any subset of a hook's arguments. An implementation
argument that has a default value is *not* passed by pluggy; do not give defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import click

    from litestream_core.client import Capability, ClientFactory, ReplicaClient, ReplicaURL
    from litestream_core.compression import Compressor
    from litestream_core.events import Event
    from litestream_core.settings import BackendSettings

hookspec = pluggy.HookspecMarker("litestream")
hookimpl = pluggy.HookimplMarker("litestream")


class ReplicaClientRegistrar(Protocol):
    """The ``register`` callback of ``litestream_register_replica_clients``."""

    def __call__(
        self,
        scheme: str,
        factory: ClientFactory,
        *,
        settings: type[BackendSettings] | None = None,
        capabilities: Iterable[Capability] | None = None,
        description: str = "",
        override: bool = False,
    ) -> None: ...


class CompressorRegistrar(Protocol):
    """The ``register`` callback of ``litestream_register_compressors``."""

    def __call__(self, name: str, codec: Compressor, *, override: bool = False) -> None: ...


# -- Registration: called once when the plugin manager builds its registries ----------


@hookspec
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    """Register replica-client factories by URL scheme.

    Call ``register(scheme, factory, *, settings=None, capabilities=None,
    description="", override=False)`` once per scheme. ``factory(url, settings)``
    returns a ReplicaClient and must import the backend's SDK inside itself, not at
    module level: listing plugins calls this hook, and it must stay cheap. A scheme is
    lowercase (``[a-z][a-z0-9+.-]*``).

    ``settings`` is a ``litestream_core.settings.BackendSettings`` subclass declaring
    the YAML keys the backend's replicas take: the config accepts and type-checks
    them, ``litestream plugins -v`` lists them, and the factory receives an instance.
    Without it the factory receives the options as a plain mapping and only Go's own
    keys are accepted. ``capabilities`` (``litestream_core.client.Capability``) are
    the facts the core relies on (local files, range reads, exact listing times).

    Two plugins registering one scheme is an error (``PluginConflictError`` naming
    both) unless one of them passes ``override=True``; the override is shown by
    ``litestream plugins``. An exception raised here marks the plugin as failed.

    :param register: the callback that records one scheme.

    .. versionadded:: 0.1

    **When called:** when the backend registry is first needed (building a client,
    ``litestream plugins``), again only if the set of plugins changed.
    """


@hookspec
def litestream_register_compressors(register: CompressorRegistrar) -> None:
    """Register compression codecs by name.

    Call ``register(name, codec, *, override=False)`` with an object meeting the
    ``litestream_core.compression.Compressor`` protocol. A replica whose config says
    ``compression: <name>`` writes its LTX pages with that codec, and each file records
    the name in its header so every reader uses the right one (Go reads only ``lz4``
    and refuses such files). A plugin may also supply a faster LZ4 implementation
    (``override=True`` on ``lz4``), which must produce raw LZ4 blocks. A name is at
    most 20 characters of ``[a-z0-9._-]``; duplicate names conflict as schemes do.

    :param register: the callback that records one codec.

    .. versionadded:: 0.1

    **When called:** when the codec table is first needed, again only if the set of
    plugins changed.
    """


@hookspec
def litestream_add_cli_commands(cli: click.Group) -> None:
    """Add commands to the ``litestream`` command group.

    Commands must import their heavy modules inside the command function, so
    ``litestream --help`` stays fast. A command named like a core command is ignored:
    core commands always win. An exception raised here marks the plugin as failed.

    :param cli: the root click group.

    .. versionadded:: 0.1

    **When called:** each time the CLI is built, before arguments are parsed.
    """


# -- Construction ---------------------------------------------------------------------


@hookspec(firstresult=True)
def litestream_make_replica_client(
    url: ReplicaURL, options: Mapping[str, Any]
) -> ReplicaClient | None:
    """Build the client for a replica URL.

    The core's own implementation (``trylast``) looks the scheme up in the registry.
    A plugin may take over particular URLs with ``tryfirst``, or decorate every client
    with ``@hookimpl(wrapper=True)`` (``client = yield; return Wrapped(client)``).

    :param url: the parsed replica URL.
    :param options: the replica's configuration keys (from YAML or URL query).
    :returns: a client, or None to let the next implementation decide.

    Stops at first non-None result.

    .. versionadded:: 0.1

    **When called:** for each replica, when replication or a restore starts.
    """


# -- Observation ----------------------------------------------------------------------


@hookspec
def litestream_event(event: Event) -> Any:
    """Observe what the engine does (files written, checkpoints, failures, restores).

    May return an awaitable (or be ``async def``), which is awaited with a timeout.
    Each implementation runs isolated from the others and from the engine: a plain
    function runs in a thread of its own, a coroutine on the dispatcher's own event
    loop (not the engine's). An exception is logged, a listener that overruns the
    timeout is abandoned and misses events until it returns, and replication never
    waits on a listener. Each listener sees events in the order they were emitted.
    Wrappers are not supported on this hook.

    :param event: a frozen dataclass from ``litestream_core.events``; filter with
        ``isinstance`` or ``match``.

    .. versionadded:: 0.1

    **When called:** after the engine emits an event, from a background thread.
    """


__all__ = [
    "CompressorRegistrar",
    "ReplicaClientRegistrar",
    "hookimpl",
    "hookspec",
    "litestream_add_cli_commands",
    "litestream_event",
    "litestream_make_replica_client",
    "litestream_register_compressors",
    "litestream_register_replica_clients",
]
