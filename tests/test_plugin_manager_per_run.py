"""One plugin manager per run: commands use the CLI's manager and leave it as they found it."""

from __future__ import annotations

import sqlite3

from click.testing import CliRunner

from litestream_core.cli import make_cli
from litestream_core.plugins import get_plugin_manager


def test_two_runs_in_one_process_share_a_manager_without_touching_it(tmp_path):
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
    replica = f"file://{tmp_path / 'replica'}"
    pm = get_plugin_manager(only={"file"})
    before = sorted(name for name, _ in pm.list_name_plugin())
    cli = make_cli(pm)
    runner = CliRunner()
    for n in range(2):
        result = runner.invoke(cli, ["replicate", "-once", str(db), replica])
        assert result.exit_code == 0, result.output
        out = tmp_path / f"restored{n}.db"
        result = runner.invoke(cli, ["restore", "-o", str(out), replica])
        assert result.exit_code == 0, result.output
        with sqlite3.connect(out) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert sorted(name for name, _ in pm.list_name_plugin()) == before
