"""A replica Go Litestream 0.3.13 wrote to Azure Blob Storage (Azurite) restores with ours."""

from __future__ import annotations

import os

from litestream_core.testing.e2e import restore
from litestream_core.testing.legacy import rows, write_v03_history

from .conftest import ACCOUNT, ACCOUNT_KEY


def test_go_03_abs_replica_restores(azurite, tmp_path, go_litestream_03, replica_prefix):
    container = azurite.make_container()
    replica = ["type: abs", f"account-name: {ACCOUNT}", f"account-key: {ACCOUNT_KEY}",
               f"bucket: {container}", f"path: {replica_prefix}",
               f"endpoint: {azurite.endpoint}"]  # fmt: skip
    history = write_v03_history(go_litestream_03, tmp_path, replica)
    blobs = azurite.service().get_container_client(container).list_blobs()
    assert any(b.name.endswith(".wal.lz4") for b in blobs), "Go 0.3 wrote WAL segments"
    url = f"abs://{ACCOUNT}@{container}/{replica_prefix}"
    env = {**os.environ, "LITESTREAM_AZURE_ACCOUNT_KEY": ACCOUNT_KEY}
    config = tmp_path / "ours.yml"
    config.write_text(
        f"dbs:\n  - path: {tmp_path / 'unused.db'}\n    replica:\n      url: {url}\n"
        f"      endpoint: {azurite.endpoint}\n"
    )
    out = tmp_path / "latest.db"
    restore(out, "-config", config, tmp_path / "unused.db", env=env)
    assert rows(out) == rows(history.db)
    for i, (when, expected) in enumerate(history.marks):
        out = tmp_path / f"at-{i}.db"
        restore(out, "-timestamp", when.isoformat(), "-config", config, tmp_path / "unused.db",
                env=env)  # fmt: skip
        assert rows(out) == expected
