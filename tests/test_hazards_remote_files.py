"""Hazard 14 (Go's reliability table): truncated or corrupt files on the replica.

A restore that would need a damaged file fails with one ``Error:`` line and leaves no
output file; a restore whose plan can go around the damaged file (a compacted file
covers it) succeeds with the exact database. Never a wrong database. The replica is
written by our engine from an application writing through the stdlib ``sqlite3``
module in another process; restores run our CLI.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from litestream_file.client import FileReplicaClient

from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.replica import Replica
from litestream_core.ltx import HEADER_SIZE, TRAILER_SIZE, compact

sys.path.insert(0, str(Path(__file__).parent))
from e2e_helpers import litestream
from test_engine_db_support import (
    app_connect,
    run,
    stop_applications,  # noqa: F401 - an autouse fixture
)

COMMITS = 6


@pytest.fixture
def replica(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """A file replica with L0 TXIDs 1..6, and the database image after each TXID."""
    path = tmp_path / "app.db"
    app = app_connect(path)
    root = tmp_path / "replica"
    images: list[bytes] = [b""]

    async def main() -> None:
        db = DB(path, DBSettings(min_checkpoint_page_count=1 << 30))
        await db.open()
        rep = Replica(db, FileReplicaClient(root))
        await rep.start()
        for i in range(COMMITS):
            app.execute("INSERT INTO t (v) VALUES (randomblob(?))", (1000 + 3000 * i,))
            await db.sync()
            await rep.sync()
            images.append(app.serialize())
        assert rep.pos.txid == COMMITS
        await db.close()

    run(main())
    return root, images


def l0(root: Path, txid: int) -> Path:
    return root / "ltx" / "0" / f"{txid:016x}-{txid:016x}.ltx"


def restore_cli(out: Path, root: Path, *args: str) -> tuple[int, list[str]]:
    result = litestream("restore", "-o", str(out), *args, f"file://{root}")
    return result.returncode, result.stderr.strip().splitlines()


def assert_fails_cleanly(out: Path, root: Path, *args: str) -> str:
    code, lines = restore_cli(out, root, *args)
    assert code == 1, lines
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    left = list(out.parent.iterdir())
    assert not left, f"restore left files behind: {left}"
    return lines[0]


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda n: 10, id="inside-header"),
        pytest.param(lambda n: HEADER_SIZE + 7, id="inside-first-page"),
        pytest.param(lambda n: n // 2, id="middle"),
        pytest.param(lambda n: n - TRAILER_SIZE // 2, id="inside-trailer"),
        pytest.param(lambda n: 0, id="empty"),
    ],
)
def test_truncated_remote_file_fails_with_one_line(tmp_path, replica, cut) -> None:
    root, _ = replica
    victim = l0(root, 3)
    data = victim.read_bytes()
    victim.write_bytes(data[: cut(len(data))])
    out = tmp_path / "out" / "restored.db"
    out.parent.mkdir()
    assert_fails_cleanly(out, root)
    assert_fails_cleanly(out, root, "-txid", "3")
    # A restore that does not reach the damaged file is unaffected.
    code, lines = restore_cli(out, root, "-txid", "2")
    assert code == 0, lines
    assert out.read_bytes() == replica[1][2]


def test_corrupt_file_covered_by_a_compacted_file_is_avoided(tmp_path, replica) -> None:
    root, images = replica
    # An L1 file covering every L0 file, as compaction would upload it.
    sources = [l0(root, t).open("rb") for t in range(1, COMMITS + 1)]
    l1 = root / "ltx" / "1" / f"{1:016x}-{COMMITS:016x}.ltx"
    l1.parent.mkdir(parents=True)
    with l1.open("wb") as out_file:
        compact(sources, out_file)
    for f in sources:
        f.close()
    victim = l0(root, 3)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x04
    victim.write_bytes(bytes(data))

    out = tmp_path / "out" / "restored.db"
    out.parent.mkdir()
    code, lines = restore_cli(out, root)
    assert code == 0, lines
    assert out.read_bytes() == images[COMMITS]
    out.unlink()
    shutil.rmtree(out.parent / ".restored.db-litestream")  # the restored database's ID
    # TXID 4 lies inside the L1 file, so only the damaged L0 chain could reach it.
    assert_fails_cleanly(out, root, "-txid", "4")


def test_corrupt_remote_file_is_never_restored_quietly(tmp_path, replica) -> None:
    """Every single-byte flip in a file the plan needs is an error, never a database."""
    root, _ = replica
    victim = l0(root, COMMITS)
    original = victim.read_bytes()
    out = tmp_path / "out" / "restored.db"
    out.parent.mkdir()
    for offset in sorted({0, 5, HEADER_SIZE + 1, len(original) // 3, len(original) - 9}):
        data = bytearray(original)
        data[offset] ^= 0x01
        victim.write_bytes(bytes(data))
        assert_fails_cleanly(out, root)
