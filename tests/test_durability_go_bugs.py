"""Go Litestream 0.5.17's known corruption, reproduced with the Go binary and then with ours.

Why Go corrupts. Go keeps its WAL position only in the header of its newest L0 file:
the WAL salts and where the copied frames end. When it starts again (``verify`` in
db.go) and the WAL header carries other salts, it reads the frame just before that old
end; if the frame still has the old salts and its page equals the copy in the last LTX
file ("lastPageMatch"), Go concludes the WAL was restarted but not overwritten, and
``detectFullCheckpoint`` only looks for salts it does not know in the frames before the
old ones. After exactly one restart there are just two salts, the old and the new, both
"known", so Go continues incrementally from the new WAL header. (These checks came with
the fix of upstream issue 752, a FULL/RESTART/TRUNCATE checkpoint while Litestream was
down; the application's plain auto-checkpoint slips through them.)

That conclusion is wrong in the most common crash: while the replicator is down the
application keeps committing after Go's position in the old generation, its own
auto-checkpoint (every 1000 pages; nobody holds a read lock any more) copies those
frames into the database file, and its next commit restarts the WAL from the start.
The new generation is still shorter than Go's old position, so the frame Go checks is
intact, and the commits between Go's position and the old generation's end are never
read: their pages are in no LTX file. The replica then mixes new versions of some pages
with old versions of others, and the restore fails ``PRAGMA integrity_check`` or
silently holds different rows. The tests below drive exactly that sequence (they check
the precondition, new generation shorter than the position, in every round).

Our engine treats any generation change it did not cause itself, seen at start-up, as
a lost position and writes a full snapshot at the next TXID (engine/syncer.py).

Measured here (2 cores): with 3 such rounds, Go 0.5.17's restore failed
``integrity_check`` for each of the 12 seeds tried (about 1.2 s per run), so the Go test
below pins the hazard; ours restored the source intact for each of them.

Restore by time. Go refuses a ``-timestamp`` outside the creation times of the replica's
files (``CalcRestoreTarget`` in replica.go: "timestamp does not exist", exit 1, even for
a time one second after the newest file), so "restore the state as of now" fails; ours
restores the newest state at or before the time, which for a time after the newest file
is the newest state.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from durability_helpers import (
    OURS,
    App,
    Outcome,
    Tool,
    caught_up,
    integrity,
    kill,
    ltx_wal_end,
    max_txid,
    newest_l0,
    rows_of,
    stop,
    wait_for,
    wal_end,
    write_config,
)

FRAME = 24 + 4096
AUTO_CHECKPOINT_PAGES = 1000  # the stdlib module's (SQLite's) default


@dataclass(frozen=True)
class Round:
    """One kill: the replicator's WAL position and the new generation it restarted on."""

    position_frames: int
    new_generation_frames: int
    restarts_while_down: int


def frames(end: int) -> int:
    return (end - 32) // FRAME


class KillScenario:
    """The replicator SIGKILLed again and again while the application keeps writing."""

    def __init__(self, tool: Tool, directory: Path, seed: int) -> None:
        self.tool = tool
        self.db = directory / "app.db"
        self.replica = directory / "replica"
        self.meta = directory / ".app.db-litestream"
        self.out = directory / "restored.db"
        self.rng = random.Random(seed)
        self.app = App(self.db, seed)
        self.app.small()
        self.config = write_config(directory, self.db, self.replica)
        self.rounds: list[Round] = []
        self.expected: list[tuple[int, bytes, int]] = []

    def _caught_up(self) -> None:
        wait_for(lambda: caught_up(self.db, self.meta), 60, f"{self.tool.name} caught up")

    def _restart_wal_while_down(self) -> None:
        """Commit big transactions until one crosses the auto-checkpoint threshold (the
        checkpoint then copies everything, no reader being left), then a small one,
        which restarts the WAL from its start."""
        salt = wal_end(self.db).salt
        while frames(wal_end(self.db).end) < AUTO_CHECKPOINT_PAGES:
            self.app.big(self.rng.randint(50, 150))
            assert wal_end(self.db).salt == salt, "the WAL restarted within a transaction"
        self.app.small()
        assert wal_end(self.db).salt != salt, "the application's auto-checkpoint did not run"

    def kill_round(self, *, overwrite: bool = False, second_restart: bool = False) -> None:
        """Go's failing case by default: the position is deep in the WAL generation, the
        application commits past it, checkpoints and restarts the WAL, and only a few
        small commits land in the new generation before the replicator comes back.

        ``overwrite`` makes the new generation reach past the old position; and
        ``second_restart`` restarts the WAL twice while the replicator is down."""
        proc = self.tool.replicate(self.config)
        try:
            self._caught_up()
            while True:  # position at least 60 frames into the current generation
                self.app.big(self.rng.randint(20, 80))
                self._caught_up()
                newest = newest_l0(self.meta)
                assert newest is not None
                position = ltx_wal_end(newest)
                if frames(position.end) >= 60:
                    break
        finally:
            kill(proc)
        self._restart_wal_while_down()
        restarts = 1
        if second_restart:
            self._restart_wal_while_down()
            restarts += 1
        for _ in range(self.rng.randint(1, 3)):
            self.app.small()
        if overwrite:
            while frames(wal_end(self.db).end) <= frames(position.end):
                self.app.big(self.rng.randint(20, 80))
        self.rounds.append(Round(frames(position.end), frames(wal_end(self.db).end), restarts))

    def finish(self) -> Outcome:
        """Restart, replicate a few more commits, stop cleanly and restore."""
        proc = self.tool.replicate(self.config)
        try:
            for _ in range(3):
                self.app.small()
            self._caught_up()
            wait_for(lambda: max_txid(self.replica) >= max_txid(self.meta), 60, "upload")
        finally:
            code = stop(proc)
        assert code == 0, f"{self.tool.name} replicate exited {code} on SIGTERM"
        restored = self.tool.run("restore", "-o", str(self.out), f"file://{self.replica}")
        outcome = Outcome(restored.returncode, restored.stderr)
        self.expected = self.app.rows()
        self.app.close()
        if restored.returncode == 0:
            outcome.integrity = integrity(self.out)
            try:
                outcome.equal = rows_of(self.out) == self.expected
            except sqlite3.DatabaseError:  # a corrupt file may not even be readable
                outcome.equal = False
        return outcome


def go_failing_rounds(scenario: KillScenario, n: int = 3) -> Outcome:
    for _ in range(n):
        scenario.kill_round()
    # Every round met the precondition of Go's bug: the new generation is shorter than
    # the old position, so the frame before the position was not overwritten.
    assert all(r.new_generation_frames < r.position_frames for r in scenario.rounds)
    return scenario.finish()


@pytest.fixture
def go(go_litestream, go_env) -> Tool:
    return Tool("go", go_litestream, go_env)


@pytest.fixture
def ours() -> Tool:
    return Tool("ours", OURS)


@pytest.mark.parametrize("seed", [1, 2])
def test_go_0_5_17_loses_commits_checkpointed_while_it_was_down(tmp_path, go, seed):
    """Pins the hazard: if this ever passes restore intact, the scenario below no longer
    proves anything about ours and must be made harder."""
    outcome = go_failing_rounds(KillScenario(go, tmp_path, seed))
    assert not outcome.intact, "Go 0.5.17 restored the source intact: scenario too weak"


@pytest.mark.parametrize("seed", [1, 2])
def test_ours_survives_the_scenario_that_corrupts_go(tmp_path, ours, seed):
    outcome = go_failing_rounds(KillScenario(ours, tmp_path, seed))
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.integrity == ["ok"]
    assert outcome.equal


@pytest.mark.slow
def test_ours_survives_kills_with_every_kind_of_wal_restart(tmp_path, ours, go):
    """Beyond Go's case: the new generation overwriting the position, two restarts while
    down, and kills at random moments while a sync may be in flight. The Go binary must
    restore the same replica (full-snapshot L0 files mid-chain included) to the same rows."""
    scenario = KillScenario(ours, tmp_path, seed=5)
    for i in range(6):
        scenario.kill_round(overwrite=i % 3 == 1, second_restart=i % 3 == 2)
        proc = ours.replicate(scenario.config)
        for _ in range(scenario.rng.randint(1, 6)):
            scenario.app.big(scenario.rng.randint(5, 60))
        kill(proc)  # mid-sync, before it caught up, perhaps mid-snapshot
    kinds = {(r.new_generation_frames > r.position_frames, r.restarts_while_down)
             for r in scenario.rounds}  # fmt: skip
    assert kinds == {(False, 1), (True, 1), (False, 2)}
    outcome = scenario.finish()
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.integrity == ["ok"]
    assert outcome.equal
    by_go = tmp_path / "restored-by-go.db"
    result = go.run("restore", "-o", str(by_go), f"file://{scenario.replica}")
    assert result.returncode == 0, result.stderr
    assert integrity(by_go) == ["ok"]
    assert rows_of(by_go) == scenario.expected


def test_restore_timestamp_after_the_newest_file_restores_the_newest_state(tmp_path, ours):
    """Go exits 1 with "timestamp does not exist" here; we restore the newest state."""
    scenario = KillScenario(ours, tmp_path, seed=9)
    proc = ours.replicate(scenario.config)
    try:
        for _ in range(5):
            scenario.app.big(10)
            scenario.app.small()
        wait_for(lambda: caught_up(scenario.db, scenario.meta), 60, "caught up")
        wait_for(lambda: max_txid(scenario.replica) >= max_txid(scenario.meta), 60, "upload")
    finally:
        assert stop(proc) == 0
    expected = scenario.app.rows()
    scenario.app.close()
    now = datetime.now(UTC)
    for n, when in enumerate((now + timedelta(seconds=1), now + timedelta(days=365))):
        out = tmp_path / f"at-{n}.db"
        stamp = when.isoformat(timespec="seconds").replace("+00:00", "Z")
        result = ours.run("restore", "-o", str(out), "-timestamp", stamp,
                          f"file://{scenario.replica}")  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert integrity(out) == ["ok"]
        assert rows_of(out) == expected
