"""Storage that stops answering, drops, resets, refuses or crawls, behind a TCP fault
proxy in front of each backend's real server; and servers that restart.

For every fault: nothing committed is lost, a restore taken meanwhile is a committed
state or one clear error, the outage is in the log within its deadline, and the
replicator catches up by itself once storage is back, without a restart.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from network_backends import NAMES, RESTARTABLE
from outage_harness import SLACK, STALL_WARNING, Run, in_parallel


def stall_and_heal(run: Run, seconds: float) -> None:
    rep = run.start()
    run.write(3)
    run.wait(run.caught_up, "never caught up before the fault")
    mark = len(run.output())
    run.backend.proxy.stall()
    stalled_at = time.monotonic()
    run.write(5)
    took = run.wait(lambda: "has not advanced" in run.since(mark), "no stall warning",
                    STALL_WARNING + SLACK)  # fmt: skip
    assert took <= STALL_WARNING + SLACK
    warning = next(line for line in run.since(mark).splitlines() if "has not advanced" in line)
    assert "behind=" in warning and "replica_txid=" in warning, warning
    # Listeners hear events on their own thread: the gauge may trail the log line.
    run.wait(lambda: run.metrics()["litestream_replica_lag_seconds"] > 0, "lag not exported", 10)
    first = run.metrics()
    time.sleep(max(0.0, seconds - (time.monotonic() - stalled_at)) + 1.2)
    second = run.metrics()
    assert 0 < first["litestream_replica_lag_seconds"] < second["litestream_replica_lag_seconds"]
    assert second["litestream_replica_txid"] < second["litestream_txid"]
    assert "recovered" not in run.since(mark)

    run.backend.proxy.heal()
    run.write(2)
    run.wait(run.caught_up, "did not catch up after the storage came back", 60)
    run.wait(lambda: "the replica caught up" in run.since(mark), "no recovered line")
    rep.assert_running("after the outage")  # no restart was needed
    run.assert_restore_is_committed(run.work / "restored.db", must_succeed=True)
    rep.stop()


def outage_is_logged(run: Run, mark: int) -> bool:
    """A failed sync, or the stall warning, in the log since ``mark``."""
    text = run.since(mark)
    return "could not upload to the replica" in text or "has not advanced" in text


def fault_then_heal(run: Run, name: str, fault, *, restore_during: bool) -> None:
    mark = len(run.output())
    fault()
    run.write(3)
    run.wait(lambda: outage_is_logged(run, mark), f"{name}: outage not logged",
             STALL_WARNING + SLACK)  # fmt: skip
    if restore_during:
        run.assert_restore_is_committed(run.work / f"during-{name}.db", must_succeed=False)
    run.backend.proxy.heal()
    run.write(1)
    run.wait(run.caught_up, f"did not catch up after {name}", 60)


def each_fault_in_turn(run: Run) -> None:
    rep = run.start()
    run.write(3)
    run.wait(run.caught_up, "never caught up before the faults")
    proxy = run.backend.proxy
    fault_then_heal(run, "drop", proxy.drop, restore_during=False)
    fault_then_heal(run, "reset mid-body", lambda: proxy.reset(after=200), restore_during=False)
    fault_then_heal(run, "refuse", proxy.refuse, restore_during=True)

    proxy.slow(32 * 1024)  # a crawling link: slow, but no failure and nothing lost
    run.write(4)
    run.wait(run.caught_up, "did not keep up over a slow link", 60)
    proxy.heal()

    if run.backend.name in RESTARTABLE:
        mark = len(run.output())
        run.backend.server.stop()
        run.write(3)
        run.wait(lambda: outage_is_logged(run, mark), "server stop not logged",
                 STALL_WARNING + SLACK)  # fmt: skip
        run.backend.server.start()
        run.write(1)
        run.wait(run.caught_up, "did not catch up after the server restarted", 60)

    rep.assert_running("after the faults")
    run.write(2)
    run.wait(run.caught_up, "did not catch up at the end")
    rep.stop()
    run.assert_restore_is_committed(run.work / "restored.db", must_succeed=True)
    assert "Traceback" not in run.output()


def test_each_fault_in_turn(tmp_path: Path) -> None:
    in_parallel(NAMES, tmp_path, each_fault_in_turn)


def test_stalled_storage_is_reported_and_caught_up(tmp_path: Path) -> None:
    """A short stall of every backend at once; bench/fault_soak.py stalls S3 for 150 s."""
    in_parallel(NAMES, tmp_path, lambda run: stall_and_heal(run, 4.0))
