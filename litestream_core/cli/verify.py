"""``litestream verify``: prove a replica's chains and say which points it can restore.

Not in Go Litestream. It reads every file (as a full restore would), so run it where
reading the whole replica is acceptable. Exit status 0 means every file is sound and
the newest state is reachable; 1 comes with one line saying what is broken. A database
with several replicas has each verified (a broken second copy is exactly what an
operator runs this to find), unless ``-replica`` names one.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import click

from litestream_core.cli.common import fail, go_flag, handle_errors
from litestream_core.cli.ltx import replicas_for, rfc3339

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient
    from litestream_core.engine.verify import VerifyReport


async def _verify(clients: dict[str, ReplicaClient]) -> dict[str, VerifyReport]:
    from litestream_core.cli import plugin_manager
    from litestream_core.engine.verify import verify_replica
    from litestream_core.plugins import page_codecs

    codecs = page_codecs(plugin_manager(click.get_current_context()))
    reports = {}
    for name, client in clients.items():
        async with client:
            reports[name] = await verify_replica(client, codecs)
    return reports


def _summary(report: VerifyReport) -> dict[str, Any]:
    points = report.points
    return {
        "ok": report.ok,
        "reason": report.problems[0] if report.problems else None,
        "levels": {
            str(level): {
                "files": len(files),
                "bytes": sum(f.size for f in files),
                "min_txid": f"{min(f.min_txid for f in files):016x}",
                "max_txid": f"{max(f.max_txid for f in files):016x}",
            }
            for level, files in sorted(report.files.items())
            if files
        },
        "identity": report.identity.to_json() if report.identity else None,
        "restorable": {
            "points": len(points),
            "ranges": [
                {"min_txid": f"{a.txid:016x}", "max_txid": f"{b.txid:016x}"}
                for a, b in report.ranges
            ],
            "min_txid": f"{points[0].txid:016x}" if points else None,
            "max_txid": f"{points[-1].txid:016x}" if points else None,
            "min_timestamp": rfc3339(points[0].timestamp) if points else None,
            "max_timestamp": rfc3339(points[-1].timestamp) if points else None,
        },
        "points": [{"txid": f"{p.txid:016x}", "timestamp": rfc3339(p.timestamp)} for p in points],
        "files_without_checksums": report.unchecksummed_files,
        "unreachable_files": report.unreachable_files,
        "problems": report.problems,
        "warnings": report.warnings,
    }


def _print_text(summary: dict[str, Any]) -> None:
    for level, info in summary["levels"].items():
        click.echo(
            f"level {level}: {info['files']} files, {info['bytes']} bytes, "
            f"TXID {info['min_txid']}-{info['max_txid']}"
        )
    if (identity := summary["identity"]) is not None:
        click.echo(
            f"replica of {identity['database']} on host {identity['host']} "
            f"(database ID {identity['database_id']})"
        )
    r = summary["restorable"]
    if r["points"]:
        runs = len(r["ranges"])
        click.echo(
            f"restorable: {r['points']} points"
            + (f" in {runs} ranges" if runs > 1 else "")
            + f", TXID {r['min_txid']} to {r['max_txid']}, "
            f"{r['min_timestamp']} to {r['max_timestamp']}"
        )
    if summary["files_without_checksums"]:
        click.echo(
            f"{summary['files_without_checksums']} files carry no database checksum (as Go "
            "writes them): their states were computed from their pages and cross-checked"
        )
    if summary["unreachable_files"]:
        click.echo(
            f"{summary['unreachable_files']} files are on no chain from a snapshot "
            "(older than the oldest snapshot, left for retention: not restorable)"
        )
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}")
    for problem in summary["problems"]:
        click.echo(f"problem: {problem}")
    if summary["ok"]:
        click.echo("ok")


@click.command("verify")
@click.option(*go_flag("config"), "config_path", metavar="PATH", help="Config file path.")
@click.option(*go_flag("no-expand-env"), is_flag=True, help="Do not expand $VARS in the config.")
@click.option(*go_flag("json"), "as_json", is_flag=True, help="Output the report as JSON.")
@click.option(*go_flag("replica"), "replica_name", metavar="NAME",
              help="The replica of a database with several (default: each of them).")  # fmt: skip
@click.argument("source", metavar="REPLICA_URL|DB_PATH")
@handle_errors
def command(
    config_path: str | None, no_expand_env: bool, as_json: bool, replica_name: str | None,
    source: str,
) -> None:  # fmt: skip
    """Check every file of a replica and the chains between them; list restorable points."""
    clients = replicas_for(source, config_path, not no_expand_env, replica_name)
    reports = asyncio.run(_verify(clients))
    summaries = {name: _summary(report) for name, report in reports.items()}
    several = len(summaries) > 1
    if as_json:
        shown = {"replicas": summaries} if several else next(iter(summaries.values()))
        click.echo(json.dumps(shown, indent=2))
    else:
        for name, summary in summaries.items():
            if several:
                click.echo(f"replica {name}:")
            _print_text(summary)
    broken = [(name, r) for name, r in reports.items() if not r.ok]
    if broken:
        name, report = broken[0]
        which = f"replica {name}" if several else "replica"
        fail(f"{which} is broken: {report.problems[0]}")
