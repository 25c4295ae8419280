"""Go configs run by both tools: every config the Go binary starts must start here too.

A corpus entry is YAML with placeholders: ``{data}`` (a directory holding one WAL
database, ``app.db``), ``{replica}`` (a directory for file replicas), ``{work}`` (the
tool's own scratch directory), ``{tool}`` (``go`` or ``ours``, for places of a server's
own) and ``{port}`` (a free port, another at each place); each tool gets its own copy of
everything, so neither sees the other's state. ``-once``
runs are compared by exit code; a daemon run "starts" when it is still running after a
short settle time (its exit code after SIGTERM is kept for the test to check).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from litestream_core.testing.servers import free_port

__all__ = ["Outcome", "assert_starts_like_go", "our_litestream", "run_both"]


@dataclass(frozen=True)
class Outcome:
    tool: str
    started: bool
    """``-once``: exit code 0; daemon: still running after the settle time."""
    code: int | None
    """The exit code (a daemon's after SIGTERM)."""
    output: str

    def __str__(self) -> str:
        return (
            f"{self.tool}: {'started' if self.started else 'refused'} (exit {self.code})\n"
            + (self.output[-3000:])
        )


def our_litestream() -> list[str]:
    """This environment's ``litestream`` command."""
    return [str(Path(sys.executable).with_name("litestream"))]


def _database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
    conn.execute("INSERT INTO t VALUES (randomblob(100))")
    conn.commit()
    conn.close()


def _run(
    argv: Sequence[str],
    config: Path,
    *,
    once: bool,
    env: Mapping[str, str] | None,
    settle: float,
    tool: str,
) -> Outcome:
    log = config.with_suffix(".log")
    args = [*argv, "replicate", *(["-once"] if once else []), "-config", str(config)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=dict(env) if env else None
        )
        try:
            if once:
                code: int | None = proc.wait(120)
                started = code == 0
            else:
                try:
                    code = proc.wait(settle)
                    started = False  # it exited by itself: it did not start
                except subprocess.TimeoutExpired:
                    started = True
                    proc.send_signal(signal.SIGTERM)
                    code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return Outcome(tool, started, code, log.read_text(errors="replace"))


def run_both(
    go: Path,
    text: str,
    work: Path,
    *,
    once: bool = True,
    env: Mapping[str, str] | None = None,
    settle: float = 3.0,
    databases: Sequence[str] = ("app.db",),
) -> tuple[Outcome, Outcome]:
    """Run the config with the Go binary, then with ours; each in its own directory."""
    outcomes = []
    for tool, argv in (("go", [str(go)]), ("ours", our_litestream())):
        root = work / tool
        for name in databases:
            _database(root / "data" / name)
        (root / "replica").mkdir(parents=True, exist_ok=True)
        config = root / "litestream.yml"
        filled = (
            text.replace("{data}", str(root / "data"))
            .replace("{replica}", str(root / "replica"))
            .replace("{work}", str(root))
            .replace("{tool}", tool)
        )
        while "{port}" in filled:
            filled = filled.replace("{port}", str(free_port()), 1)
        config.write_text(filled)
        outcomes.append(_run(argv, config, once=once, env=env, settle=settle, tool=tool))
    return outcomes[0], outcomes[1]


def assert_starts_like_go(go: Outcome, ours: Outcome, name: str = "") -> None:
    """Go started it, so we must; and whatever we do, never with a traceback."""
    assert "Traceback" not in ours.output, f"{name}\n{ours}"
    if go.started:
        assert ours.started, f"{name}: Go starts this config and we do not\n{go}\n{ours}"
