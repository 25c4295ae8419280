"""Entry point of litestream-nats: registers the ``nats`` scheme without importing nats-py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, Duration, Setting, StrList

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class NATSKeys(BackendSettings):
    """Go's nats keys. Credentials in Go's order: jwt+seed, creds, nkey, username and
    password, token."""

    bucket: Annotated[str | None, Setting("object store bucket (must exist)")] = None
    jwt: Annotated[str | None, Setting("user JWT, with seed", secret=True)] = None
    seed: Annotated[str | None, Setting("NKey seed of the JWT", secret=True)] = None
    creds: Annotated[str | None, Setting("credentials file")] = None
    nkey: Annotated[str | None, Setting("NKey seed", secret=True)] = None
    username: Annotated[str | None, Setting("user name")] = None
    password: Annotated[str | None, Setting("password", secret=True)] = None
    token: Annotated[str | None, Setting("auth token", secret=True)] = None
    tls: Annotated[bool | None, Setting("connect with TLS")] = None
    root_cas: Annotated[StrList | None, Setting("CA certificate files")] = None
    client_cert: Annotated[str | None, Setting("client certificate (with client-key)")] = None
    client_key: Annotated[str | None, Setting("client key (with client-cert)")] = None
    max_reconnects: Annotated[int | None, Setting("-1: unlimited (default)")] = None
    reconnect_wait: Annotated[Duration | None, Setting("pause between reconnects (2s)")] = None
    timeout: Annotated[Duration | None, Setting("connect and request timeout (10s)")] = None


def make_client(url: ReplicaURL, settings: NATSKeys | Mapping[str, Any]) -> ReplicaClient:
    """Build a NATS client; nats-py is imported here, when a replica needs it."""
    from litestream_nats.client import NATSReplicaClient

    return NATSReplicaClient.from_url(url, NATSKeys.coerce(settings).as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "nats",
        make_client,
        settings=NATSKeys,
        capabilities={Capability.ACCURATE_METADATA_TIMESTAMPS, Capability.CONDITIONAL_WRITES},
        description="NATS JetStream object store (nats-py)",
    )
