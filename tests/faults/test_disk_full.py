"""Full disks under a running ``litestream replicate``: the file replica's volume, then
the meta directory's (local staging), each a small tmpfs filled to the last byte.

While a volume is full every attempt fails, each failure is one readable log line (no
``OSError(28, ...)``), no temporary file stays behind, and nothing half-written is
listed or uploaded; once space returns replication catches up by itself and the
replica restores the database exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from network_backends import Backend
from outage_harness import SLACK, STALL_WARNING, Run
from test_hazards_disk_full import fill


@pytest.fixture
def volumes(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two 1 MiB tmpfs mounts: (replica volume, meta volume)."""
    mounts = [tmp_path / "replica-vol", tmp_path / "meta-vol"]
    mounted: list[Path] = []
    try:
        for mount in mounts:
            mount.mkdir()
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode != 0:
                pytest.skip(f"cannot mount a size-limited tmpfs here (needs root and "
                            f"CAP_SYS_ADMIN): {done.stderr.strip()}")  # fmt: skip
            mounted.append(mount)
        yield mounts[0], mounts[1]
    finally:
        for mount in mounted:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def assert_full_window(run: Run, volume: Path, mark: int, what: str) -> None:
    """While ``volume`` is full: the outage is logged as one readable line, repeatedly
    retried, and no temporary file is ever left on the volume between attempts."""
    run.write(4)
    run.wait(lambda: "No space left on device" in run.since(mark), f"{what}: not logged",
             STALL_WARNING + SLACK)  # fmt: skip
    for _ in range(10):  # a few retries' worth of looks
        run.write(1)
        assert not temp_files(volume), f"{what}: a temporary file stayed behind"
        run.wait(lambda: True, "")
    log = run.since(mark)
    assert "OSError(" not in log and "Errno" not in log, log
    line = next(ln for ln in log.splitlines() if "No space left on device" in ln)
    assert str(volume) in line, line  # names the file it could not write


def test_full_replica_then_full_meta_volume(tmp_path: Path, volumes) -> None:
    replica_vol, meta_vol = volumes
    backend = Backend("file", None, None, [f"url: file://{replica_vol}/replica"])
    run = Run(backend, tmp_path / "run", db_lines=[f"meta-path: {meta_vol}/meta"])
    try:
        rep = run.start()
        run.write(3)
        run.wait(run.caught_up, "never caught up")

        mark = len(run.output())
        filler = fill(replica_vol)
        assert_full_window(run, replica_vol, mark, "replica volume full")
        filler.unlink()
        run.wait(run.caught_up, "did not catch up once the replica had space", 60)

        mark = len(run.output())
        filler = fill(meta_vol)
        assert_full_window(run, meta_vol, mark, "meta volume full")
        os.unlink(filler)
        run.write(1)
        run.wait(run.caught_up, "did not catch up once the meta volume had space", 60)

        assert not temp_files(replica_vol) and not temp_files(meta_vol)
        rep.stop()
        run.assert_restore_is_committed(tmp_path / "restored.db", must_succeed=True)
    finally:
        run.close()
