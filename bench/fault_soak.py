"""Long fault runs, on demand (not part of the test run): the soak versions of
tests/faults/.

- ``stall``: S3 (moto) behind the fault proxy stops answering for 150 s (``--seconds``)
  while the application writes; the replicator must warn within its stall deadline, the
  lag metric must rise, and after healing it must catch up by itself with nothing lost.
- ``kills``: a hundred SIGKILLs (``--kills``) in the middle of snapshots and compactions
  under a writer that never pauses; every restore must be a committed state, no
  temporary file may survive into the next run, and the last restore must equal the
  database.

Run: ``uv run python bench/fault_soak.py stall|kills [--seconds N] [--kills N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from outage_harness import in_parallel  # noqa: E402
from test_sigkill_loop import run_kill_loop  # noqa: E402
from test_storage_outages import stall_and_heal  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("stall", "kills"))
    parser.add_argument("--seconds", type=float, default=150.0, help="length of the stall")
    parser.add_argument("--kills", type=int, default=100, help="SIGKILL rounds")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="litestream-soak-") as work:
        if args.what == "stall":
            in_parallel(["s3"], Path(work), lambda run: stall_and_heal(run, args.seconds))
            print(f"S3 stalled {args.seconds:g} s: warned, lag rose, caught up, nothing lost")
        else:
            # A calmer writer than CI's: the database must not grow by gigabytes.
            hits = run_kill_loop(Path(work), args.kills, pause=0.05)
            print(f"{args.kills} SIGKILLs survived; landed during: {hits}")
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
