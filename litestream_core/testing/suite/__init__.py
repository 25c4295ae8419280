"""The conformance suite: one class per topic, all inherited by ReplicaClientSuite."""

from __future__ import annotations

from litestream_core.testing.suite.concurrency import ConcurrencyTests
from litestream_core.testing.suite.delete import DeleteTests
from litestream_core.testing.suite.exclusive import ExclusiveCreateTests
from litestream_core.testing.suite.large import LargeFileTests
from litestream_core.testing.suite.lifecycle import LifecycleTests
from litestream_core.testing.suite.listing import ListingTests
from litestream_core.testing.suite.plugin_contract import PluginContractTests
from litestream_core.testing.suite.read import ReadTests
from litestream_core.testing.suite.sealed import SealedFileTests
from litestream_core.testing.suite.write import WriteTests


class ReplicaClientSuite(
    ListingTests,
    ReadTests,
    WriteTests,
    DeleteTests,
    LifecycleTests,
    ConcurrencyTests,
    LargeFileTests,
    ExclusiveCreateTests,
    PluginContractTests,
    SealedFileTests,
):
    """Subclass as ``Test<Backend>Conformance``, set the class attributes, and define
    an async ``replica_client`` fixture yielding an initialised client on an empty prefix.
    """


__all__ = [
    "ConcurrencyTests",
    "DeleteTests",
    "ExclusiveCreateTests",
    "LargeFileTests",
    "LifecycleTests",
    "ListingTests",
    "PluginContractTests",
    "ReadTests",
    "ReplicaClientSuite",
    "SealedFileTests",
    "WriteTests",
]
