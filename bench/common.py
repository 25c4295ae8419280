"""Shared pieces of the side-by-side benchmarks: the tools, /proc readings, interleaving.

Every script runs the tools interleaved (A, B, A, B, ... for ``--repeat`` rounds), so a
burst of load from other jobs on this shared machine hits both alike, and reports
per-measure min and median of the per-round ratios (ours / Go's).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass(frozen=True)
class Tool:
    name: str
    argv: tuple[str, ...]

    @property
    def is_go(self) -> bool:
        return self.name == "go"


def tools(before: str | None = None) -> list[Tool]:
    """Ours (this checkout's venv), Go 0.5.17, and optionally another build of ours."""
    found = [
        Tool("ours", (str(ROOT / ".venv" / "bin" / "litestream"),)),
        Tool("go", (os.environ.get("LITESTREAM_GO_BIN", str(ROOT / ".peer/bin/litestream")),)),
    ]
    if before:
        found.append(Tool("before", (before,)))
    return found


def add_tool_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--before", help="another build of ours to run in the same rounds")
    parser.add_argument("--only", help="comma-separated tool names to run")


def chosen_tools(args: argparse.Namespace) -> list[Tool]:
    """The tools ``add_tool_options``' flags ask for; prints the machine's state too."""
    found = tools(args.before)
    if args.only:
        found = [t for t in found if t.name in args.only.split(",")]
    print(f"Machine: {machine()}", flush=True)
    return found


def env_for(tool: Tool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)  # breaks the Go binary's S3 client; harmless here
    if not tool.is_go:
        # As an installed package runs: bytecode cached (this sandbox sets the opposite).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", "/tmp/litestream-bench-pyc")
    return env


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor())  # fmt: skip
    load = os.getloadavg()
    return f"nproc={os.cpu_count()}, CPU {model!r}, load average {load[0]:.2f} / {load[1]:.2f}"


def interleave(
    rounds: int, contenders: Sequence[Tool], run: Callable[[Tool, int], dict[str, float]]
) -> dict[str, list[dict[str, float]]]:
    """``run(tool, round)`` for each tool in turn, ``rounds`` times; results per tool."""
    results: dict[str, list[dict[str, float]]] = {t.name: [] for t in contenders}
    for i in range(rounds):
        order = contenders if i % 2 == 0 else list(reversed(contenders))
        for tool in order:
            measured = run(tool, i)
            results[tool.name].append(measured)
            shown = ", ".join(f"{k}={v:.4g}" for k, v in measured.items())
            print(f"  round {i + 1} {tool.name}: {shown}", flush=True)
    return results


def table(results: dict[str, list[dict[str, float]]], measures: Sequence[str]) -> str:
    """Markdown: median per tool and min/median of the per-round ratios against Go (when
    Go ran: ``--only ours`` gives medians alone)."""
    names = list(results)
    others = [n for n in names if n != "go"] if "go" in results else []
    head = ["measure", *(f"{n} (median)" for n in names)]
    head += [f"{n} / go (min, median)" for n in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in measures:
        row = [m]
        for n in names:
            row.append(_fmt(statistics.median(r[m] for r in results[n])))
        for n in others:
            ratios = [
                a[m] / b[m] if b[m] else float("nan")
                for a, b in zip(results[n], results["go"], strict=False)
            ]
            row.append(f"{min(ratios):.2f}, {statistics.median(ratios):.2f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _fmt(v: float) -> str:
    if v == 0 or abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}"
