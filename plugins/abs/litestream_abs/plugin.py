"""Entry point of litestream-abs: registers the ``abs`` scheme without importing the SDK."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from litestream_core.client import Capability
from litestream_core.hookspecs import ReplicaClientRegistrar, hookimpl
from litestream_core.settings import BackendSettings, Duration, Setting

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient, ReplicaURL


class ABSKeys(BackendSettings):
    """Go's abs keys. Credentials as Go picks them: a SAS token, else a shared key, else
    DefaultAzureCredential (``LITESTREAM_AZURE_*`` variables fill unset keys)."""

    account_name: Annotated[str | None, Setting("storage account")] = None
    account_key: Annotated[str | None, Setting("shared key of the account", secret=True)] = None
    sas_token: Annotated[str | None, Setting("SAS token", secret=True)] = None
    endpoint: Annotated[
        str | None, Setting("blob endpoint (default https://ACCOUNT.blob.core.windows.net)")
    ] = None
    bucket: Annotated[str | None, Setting("container, when the replica has no url")] = None
    timeout: Annotated[
        Duration | None, Setting("deadline on each storage call's progress (default 30s)", gt=0)
    ] = None


def _make_client(url: ReplicaURL, settings: ABSKeys | Mapping[str, Any]) -> ReplicaClient:
    from litestream_abs.client import ABSReplicaClient

    return ABSReplicaClient.from_url(url, ABSKeys.coerce(settings).as_options())


@hookimpl
def litestream_register_replica_clients(register: ReplicaClientRegistrar) -> None:
    register(
        "abs",
        _make_client,
        settings=ABSKeys,
        capabilities={
            Capability.ACCURATE_METADATA_TIMESTAMPS,
            Capability.RANGE_READS,
            Capability.CONDITIONAL_WRITES,
        },
        description="Azure Blob Storage (abs://[account@]container/path)",
    )
