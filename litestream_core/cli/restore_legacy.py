"""``restore`` from the v0.3 files of a replica, when they are the better backup."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from litestream_core.client import ReplicaClient
    from litestream_core.engine.legacy_v03 import LegacyPlan


async def restore_if_newer(
    client: ReplicaClient,
    timestamp: datetime | None,
    out_path: Path,
    source: str,
    dry_run: bool,
    as_json: bool,
    force: bool,
    integrity_check: str,
) -> bool:
    """Restore (or print the plan) from v0.3 files if they win; False to go on with LTX."""
    from litestream_core.client import SupportsLegacyLayout

    # Most replicas hold no v0.3 files: the v0.3 restore is not even imported for them.
    if not isinstance(client, SupportsLegacyLayout) or not (files := await client.legacy_files()):
        return False
    from litestream_core.engine.legacy_v03 import choose_v03, restore_v03

    plan = await choose_v03(client, timestamp, files)
    if plan is None:
        return False
    if dry_run:
        _print_plan(plan, source, out_path, client.type, as_json)
        return True
    result = await restore_v03(
        client, plan, out_path, overwrite=force, integrity_check=integrity_check
    )
    if as_json:
        body = {
            "db_path": str(result.path), "replica": client.type, "txid": "",
            "v03_position": plan.position, "duration_ms": int(result.duration * 1000),
            "integrity_check": integrity_check,
        }  # fmt: skip
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(f"restored {result.path} from v0.3 backup {plan.position}", err=True)
    return True


def _print_plan(plan: LegacyPlan, source: str, out_path: Path, replica: str, as_json: bool) -> None:
    files = [plan.snapshot.file, *(s.file for s in plan.segments)]
    rows = [
        {"file": f.path, "size": f.size,
         "timestamp": f.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for f in files
    ]  # fmt: skip
    body = {"source": source, "target_path": str(out_path), "replica": replica,
            "format": "v0.3", "position": plan.position, "files": rows}  # fmt: skip
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    click.echo("Restore plan (v0.3 backup):")
    click.echo(f"  source: {source}\n  target: {out_path}\n  replica: {replica}")
    click.echo(f"  position: {plan.position}\n")
    click.echo("Files to fetch:")
    for row in rows:
        click.echo(f"  {row['file']}  {row['size']}  {row['timestamp']}")
