"""One writer per replica path on a file replica (real processes; engine unit tests below)."""

from __future__ import annotations

from pathlib import Path

import pytest

from litestream_core.testing.lease_e2e import two_databases_one_replica


@pytest.mark.parametrize("kill_first", [False, True], ids=["stopped", "killed"])
def test_second_database_waits_then_takes_the_replica_over(tmp_path: Path, kill_first: bool):
    replica = tmp_path / "replica"
    two_databases_one_replica(
        tmp_path, [f"url: file://{replica}"], [f"file://{replica}"], kill_first=kill_first
    )
