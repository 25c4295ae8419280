"""Two replicators of two databases on one replica path, as real processes.

Shared by the file test (core) and each backend's own (``plugins/*/tests``): the
replica must only ever restore to the first database while it runs, the second must
say who holds the lease, and once the first is gone the replica must restore to the
second database, from its own fresh snapshot, never a mix.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from litestream_core.testing.e2e import (
    OUR_LITESTREAM,
    Replicate,
    insert_rows,
    rows,
    wait_for,
    write_config,
)

TTL = 2.0


def restored_rows(
    tmp: Path, source: Sequence[str], env: Mapping[str, str] | None
) -> list[tuple[Any, ...]] | None:
    """What the replica restores to now, or None if it does not restore."""
    out = tmp / f"restored-{time.monotonic_ns()}.db"
    proc = subprocess.run(
        [str(OUR_LITESTREAM), "restore", "-o", str(out), *source],
        capture_output=True, text=True, timeout=60, env=None if env is None else dict(env),
    )  # fmt: skip
    if proc.returncode != 0:
        return None
    try:
        return rows(out)
    finally:
        for path in tmp.glob(f"{out.name}*"):
            path.unlink()


def two_databases_one_replica(
    tmp_path: Path,
    replica: Sequence[str],
    restore_source: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    kill_first: bool = False,
) -> None:
    """The whole scenario; ``kill_first`` stops the first with SIGKILL (its lease goes
    stale) instead of SIGTERM (it releases the lease)."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    insert_rows(a, range(0, 10), wal=True)
    insert_rows(b, range(1000, 1010), wal=True)
    top = ["lease:", f"  ttl: {TTL}s"]
    first = Replicate(write_config(tmp_path / "a.yml", a, replica, top=top), tmp_path / "a.log",
                      env=env)  # fmt: skip
    second: Replicate | None = None
    restored = tmp_path / "restored"
    restored.mkdir()
    try:
        wait_for(lambda: restored_rows(restored, restore_source, env) == rows(a),
                 "the first database never reached the replica")  # fmt: skip
        second = waiting = Replicate(
            write_config(tmp_path / "b.yml", b, replica, top=top), tmp_path / "b.log", env=env
        )
        held_by = f"pid {first.proc.pid}"
        wait_for(lambda: "waiting for the lease held by" in waiting.output()
                 and held_by in waiting.output() and str(a) in waiting.output(),
                 "the second replicator did not say who holds the lease")  # fmt: skip
        insert_rows(a, range(10, 20), wal=True)
        insert_rows(b, range(1010, 1020), wal=True)
        wait_for(lambda: restored_rows(restored, restore_source, env) == rows(a),
                 "the first database's new rows never reached the replica")  # fmt: skip
        time.sleep(TTL)  # the second keeps waiting while the first renews
        assert restored_rows(restored, restore_source, env) == rows(a)
        waiting.assert_running("while waiting for the lease")
        first.assert_running()
        if kill_first:
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait()
        else:
            first.stop()
        wait_for(lambda: restored_rows(restored, restore_source, env) == rows(b),
                 "the second database did not take the replica over", timeout=TTL * 5)  # fmt: skip
        assert "taken over from" in waiting.output()
        insert_rows(b, range(1020, 1030), wal=True)
        wait_for(lambda: restored_rows(restored, restore_source, env) == rows(b),
                 "the second database's new rows never reached the replica")  # fmt: skip
        waiting.stop()
        second = None
    finally:
        for proc in (first, second):
            if proc is not None and proc.proc.poll() is None:
                proc.proc.kill()
                proc.proc.wait()
