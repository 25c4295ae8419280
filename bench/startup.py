"""Start-up: `litestream version` and a restore of a tiny replica, ours against Go's.

    uv run python bench/startup.py [--repeat 10] [--source DIR]

Builds the core and file-backend wheels from ``--source`` (this checkout by default; for
a "before", ``git archive <rev> | tar -x -C DIR``), installs them into a fresh virtualenv
outside the workspace with bytecode compiled (as pip does), makes a one-table database
and a file replica of it, then runs each command with both tools interleaved (ours, Go,
ours, Go, ...) ``--repeat`` times. Prints wall-clock min and median per tool, and ours/Go
ratios of both, and the median CPU time (user + system), which other jobs on a shared
machine disturb less; every restore is checked to equal the source database's rows. A third
row times the venv's interpreter importing only the libraries a restore needs (against
Go's `version`): the floor that lazy imports cannot go below.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from litestream_core.testing.e2e import venv_with_wheels
from litestream_core.testing.peer import find_go_litestream

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import click, asyncio, pluggy, structlog, lz4.block, fastcrc"


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, f"{argv}: {done.stderr.decode()}"
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--source", type=Path, default=ROOT)
    args = parser.parse_args()
    go = find_go_litestream(ROOT)
    assert go is not None, "the Go binary is missing: run scripts/setup"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        venv = venv_with_wheels(args.source, ("litestream-core", "litestream-file"), tmp)
        ours = str(venv / "bin" / "litestream")
        db = tmp / "app.db"
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        con.execute("INSERT INTO t (v) VALUES ('hello')")
        con.commit()
        con.close()
        replica = f"file://{tmp / 'replica'}"
        subprocess.run(
            [ours, "replicate", "-once", str(db), replica], check=True, capture_output=True
        )
        out = tmp / "out.db"

        def restore(tool: str) -> list[str]:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{out}{suffix}").unlink(missing_ok=True)
            return [tool, "restore", "-o", str(out), replica]

        python = str(venv / "bin" / "python")
        cases = {
            "version": lambda tool: [tool, "version"],
            "restore tiny replica": restore,
            # What the stack costs before any code of ours runs: the interpreter with
            # the libraries a restore cannot do without (the CLI, the event loop, the
            # plugin manager, the log renderer, LZ4, CRC-64; plugin discovery comes
            # from the index kept by an earlier run, see litestream_core.plugin_index).
            "floor: imports only": lambda tool: [python, "-c", FLOOR] if tool == ours else [
                tool, "version"],
        }  # fmt: skip
        for name, argv in cases.items():
            times: dict[str, list[float]] = {"ours": [], "go": []}
            cpu: dict[str, list[float]] = {"ours": [], "go": []}
            for _ in range(args.repeat):
                for label, tool in (("ours", ours), ("go", str(go))):
                    wall, used = timed(argv(tool))
                    times[label].append(wall)
                    cpu[label].append(used)
                    if name.startswith("restore"):
                        check = sqlite3.connect(out)
                        rows = check.execute("SELECT v FROM t").fetchall()
                        check.close()
                        assert rows == [("hello",)], rows
            lo = {k: min(v) * 1000 for k, v in times.items()}
            med = {k: statistics.median(v) * 1000 for k, v in times.items()}
            print(
                f"{name:22s} ours min {lo['ours']:6.1f} ms, median {med['ours']:6.1f} ms | "
                f"Go min {lo['go']:5.1f} ms, median {med['go']:5.1f} ms | "
                f"ratio min {lo['ours'] / lo['go']:.2f}, median {med['ours'] / med['go']:.2f}"
            )
            c = {k: statistics.median(v) * 1000 for k, v in cpu.items()}
            print(
                f"{'':22s} CPU median ours {c['ours']:6.1f} ms, Go {c['go']:5.1f} ms, "
                f"ratio {c['ours'] / c['go']:.2f} (less sensitive to other load than wall time)"
            )


if __name__ == "__main__":
    main()
