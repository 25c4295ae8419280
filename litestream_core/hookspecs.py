"""Every hook a Litestream plugin can implement, grouped by lifecycle.

Hooks are synchronous and cheap: network I/O belongs in ReplicaClient methods, and
SDK imports belong inside the factories a plugin registers, so listing plugins or
running ``litestream --help`` never imports boto3 and friends. Only
``litestream_core.plugins`` calls these hooks, always with keyword arguments.

Implementations may accept any subset of a hook's arguments. An implementation
argument that has a default value is *not* passed by pluggy; do not give defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from litestream_core.client import ReplicaClient, ReplicaURL
    from litestream_core.events import Event

hookspec = pluggy.HookspecMarker("litestream")
hookimpl = pluggy.HookimplMarker("litestream")


# -- Registration: called once when the plugin manager builds its registries ----------


@hookspec
def litestream_register_replica_clients(register: Callable[..., None]) -> None:
    """Register replica-client factories by URL scheme.

    Call ``register(scheme, factory, *, description="", override=False)`` once per
    scheme. ``factory(url, options)`` returns a ReplicaClient and must import the
    backend's SDK inside itself, not at module level.

    :param register: the callback that records one scheme.

    .. versionadded:: 0.1

    **When called:** once per process, when the backend registry is first needed.
    """


@hookspec
def litestream_register_compressors(register: Callable[..., None]) -> None:
    """Register compression codecs by name.

    Call ``register(name, codec)`` with an object meeting the ``Compressor`` protocol.
    LTX page blocks are always LZ4 blocks; a plugin may supply a faster LZ4
    implementation or codecs for other uses, never a different LTX byte format.

    :param register: the callback that records one codec.

    .. versionadded:: 0.1

    **When called:** once per process, when a codec is first needed.
    """


@hookspec
def litestream_add_cli_commands(cli: click.Group) -> None:
    """Add commands to the ``litestream`` command group.

    Commands must import their heavy modules inside the command function.

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

    May return an awaitable, which the engine awaits with a timeout. Each
    implementation runs isolated from the others: an exception is logged, a slow
    listener is abandoned, and replication never waits on a listener.

    :param event: a frozen dataclass from ``litestream_core.events``.

    .. versionadded:: 0.1

    **When called:** whenever the engine emits an event, from the event loop.
    """


__all__ = [
    "hookimpl",
    "hookspec",
    "litestream_add_cli_commands",
    "litestream_event",
    "litestream_make_replica_client",
    "litestream_register_compressors",
    "litestream_register_replica_clients",
]
