"""Entry point of litestream-sftp: registers the ``sftp`` scheme without importing paramiko."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, Duration, Setting

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class SFTPKeys(BackendSettings):
    """Go's sftp keys, and ``known-hosts-path``; the URL may give host, user and password."""

    host: Annotated[str | None, Setting("server, host or host:port")] = None
    user: Annotated[str | None, Setting("login name")] = None
    password: Annotated[str | None, Setting("password", secret=True)] = None
    key_path: Annotated[str | None, Setting("private key file")] = None
    host_key: Annotated[
        str | None, Setting("server public key, authorized_keys format", inherit=False)
    ] = None
    known_hosts_path: Annotated[
        str | None, Setting("known_hosts file (default: ~/.ssh/known_hosts)")
    ] = None
    skip_verify: Annotated[bool | None, Setting("accept any host key (not advised)")] = None
    concurrent_writes: Annotated[bool | None, Setting("pipeline writes (default true)")] = None
    timeout: Annotated[
        Duration | None, Setting("deadline on each storage call's progress (default 30s)", gt=0)
    ] = None


def make_client(url: ReplicaURL, settings: SFTPKeys | Mapping[str, Any]) -> ReplicaClient:
    """Build an SFTP client; paramiko is imported here, when a replica needs it."""
    from litestream_sftp.client import SFTPReplicaClient

    return SFTPReplicaClient.from_url(url, SFTPKeys.coerce(settings).as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "sftp",
        make_client,
        settings=SFTPKeys,
        capabilities={
            Capability.ACCURATE_METADATA_TIMESTAMPS,
            Capability.RANGE_READS,
            Capability.CONDITIONAL_WRITES,
        },
        description="SFTP server (paramiko)",
    )
