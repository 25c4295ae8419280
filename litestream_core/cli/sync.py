"""``litestream sync``: make a running daemon sync one database now.

With ``-wait`` it returns only once everything committed before it is on the replica,
which is what deploy scripts and tests need before they stop or copy anything.
"""

from __future__ import annotations

import time

import click

from litestream_core.cli.common import go_flag, handle_errors
from litestream_core.cli.control_common import (
    check_timeout,
    client,
    control_options,
    one_path,
    print_fields,
)

HINT = "litestream sync /path/to/db"


@click.command("sync")
@click.option(*go_flag("wait"), is_flag=True,
              help="Block until the sync reaches the replica too.")  # fmt: skip
@control_options(30, "Maximum time to wait in seconds, best-effort.")
@click.argument("args", nargs=-1, metavar="DB_PATH")
@handle_errors
def command(
    wait: bool, socket_path: str, timeout: int, as_json: bool, args: tuple[str, ...]
) -> None:
    """Force an immediate sync for a database."""
    path = one_path(args, HINT)
    seconds = check_timeout(timeout)
    request = {"path": path, "wait": wait, "timeout": timeout}
    if not wait:
        del request["wait"]
    start = time.monotonic()
    result = client(socket_path, seconds, "sync").post("/sync", request)
    duration_ms = int((time.monotonic() - start) * 1000)
    fields = {"db_path": result.get("path"), "txid": result.get("txid", 0)}
    if wait:
        fields["replica_txid"] = result.get("replicated_txid", 0)
    fields["duration_ms"] = duration_ms
    print_fields(fields, as_json)
