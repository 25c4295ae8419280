"""``litestream ltx``, ``databases`` and ``verify`` on a real file replica, beside Go's ``ltx``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from litestream_core.cli import make_cli
from litestream_core.engine.compaction import Compactor
from litestream_core.engine.levels import CompactionSettings

sys.path.insert(0, str(Path(__file__).parent))
from test_compaction_support import History


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    """A compacted file replica (L0, L1, L2, L9) of a real database."""
    from litestream_file.client import FileReplicaClient

    root = tmp_path_factory.mktemp("cli")
    history = History(root / "db.sqlite")

    async def build() -> None:
        client = FileReplicaClient(root / "replica")
        await client.init()
        comp = Compactor(client, CompactionSettings(level_intervals=(1.0, 2.0)))
        for _ in range(3):
            await history.upload(client, history.write(4))
            await comp.compact(1)
        await comp.compact(2)
        await comp.snapshot()
        await history.upload(client, history.write(2))
        await client.close()

    asyncio.run(build())
    history.close()
    return root


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(make_cli(), list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ltx_lists_every_level_exactly_as_go_does(replica, go_litestream, go_env):
    url = f"file://{replica / 'replica'}"
    code, out, _ = _run("ltx", "-level", "all", url)
    assert code == 0
    go = subprocess.run(
        [go_litestream, "ltx", "-level", "all", url],
        env=go_env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out == go.stdout
    lines = out.splitlines()
    assert lines[0].split() == ["level", "min_txid", "max_txid", "size", "created"]
    assert {line.split()[0] for line in lines[1:]} == {"0", "1", "2", "9"}


def test_ltx_json_and_single_level(replica, go_litestream, go_env):
    url = f"file://{replica / 'replica'}"
    code, out, _ = _run("ltx", "--json", "--level", "1", url)
    assert code == 0
    rows = json.loads(out)
    go = subprocess.run(
        [go_litestream, "ltx", "-json", "-level", "1", url],
        env=go_env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert rows == json.loads(go.stdout)
    assert [(r["min_txid"], r["max_txid"]) for r in rows] == [
        ("0000000000000001", "0000000000000004"),
        ("0000000000000005", "0000000000000008"),
        ("0000000000000009", "000000000000000c"),
    ]


def test_ltx_rejects_a_bad_level(replica):
    code, _, err = _run("ltx", "-level", "12", f"file://{replica / 'replica'}")
    assert code != 0
    assert "invalid level" in err


def _config(replica: Path) -> Path:
    cfg = replica / "litestream.yml"
    cfg.write_text(
        f"dbs:\n  - path: {replica / 'db.sqlite'}\n    replica:\n"
        f"      url: file://{replica / 'replica'}\n"
        f"  - path: {replica / 'other.sqlite'}\n    replica:\n"
        f"      path: {replica / 'empty-replica'}\n"
    )
    return cfg


def test_ltx_and_verify_find_a_database_in_the_config(replica):
    cfg = _config(replica)
    code, out, _ = _run("ltx", "-config", str(cfg), "-level", "9", str(replica / "db.sqlite"))
    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["9", "0000000000000001", "000000000000000c"]
    code, out, _ = _run("verify", "-config", str(cfg), str(replica / "db.sqlite"))
    assert code == 0 and out.splitlines()[-1] == "ok"
    code, _, err = _run("ltx", "-config", str(cfg), str(replica / "missing.sqlite"))
    assert code == 1 and err.startswith("Error: database not found in config")


def test_databases_reads_only_the_config_like_go(replica, tmp_path):
    config = tmp_path / "unreachable.yml"
    config.write_text(
        _config(replica).read_text()
        + "  - path: /nowhere/x.db\n"
        + "    replica: {url: s3://bucket/x, endpoint: http://127.0.0.1:1, access-key-id: a,"
        + " secret-access-key: b}\n"
    )
    code, out, _ = _run("databases", "-config", str(config))
    assert code == 0
    assert [line.split()[1] for line in out.splitlines()] == ["replica", "file", "file", "s3"]
    code, out, _ = _run("databases", "-config", str(config), "-json")
    assert [r["replica"] for r in json.loads(out)] == ["file", "file", "s3"]
    assert set(json.loads(out)[0]) == {"path", "replica"}


def test_databases_positions_shows_each_replica_position(replica):
    code, out, _ = _run("databases", "-positions", "-config", str(_config(replica)), "-json")
    assert code == 0
    rows = json.loads(out)
    assert [Path(r["path"]).name for r in rows] == ["db.sqlite", "other.sqlite"]
    assert rows[0]["replica"] == "file"
    assert rows[0]["levels"] == {
        "0": "000000000000000e",
        "1": "000000000000000c",
        "2": "000000000000000c",
        "9": "000000000000000c",
    }
    assert rows[1]["levels"] == {}
    code, out, _ = _run("databases", "--positions", "--config", str(_config(replica)))
    lines = out.splitlines()
    assert lines[0].split() == ["path", "replica", "txid", "levels"]
    assert lines[1].split()[1:3] == ["file", "000000000000000e"]
    assert lines[2].split()[1:] == ["file", "-", "empty"]


def test_verify_reports_restorable_points(replica):
    code, out, _ = _run("verify", "-json", f"file://{replica / 'replica'}")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] and report["reason"] is None
    assert report["restorable"]["points"] == 14
    assert report["restorable"]["max_txid"] == "000000000000000e"
    assert [p["txid"] for p in report["points"]] == [f"{t:016x}" for t in range(1, 15)]


def test_verify_fails_with_one_line_on_a_broken_replica(replica, tmp_path):
    import shutil

    broken = tmp_path / "replica"
    shutil.copytree(replica / "replica", broken)
    victim = broken / "ltx" / "0" / "000000000000000d-000000000000000d.ltx"
    victim.unlink()
    code, out, err = _run("verify", f"file://{broken}")
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(
        "Error: replica is broken: newest TXID 000000000000000e cannot be restored"
    )
    assert "problem:" in out


def test_verify_checks_every_replica_of_a_database_with_several(replica, tmp_path):
    import shutil

    broken = tmp_path / "second"
    shutil.copytree(replica / "replica", broken)
    (broken / "ltx" / "0" / "000000000000000d-000000000000000d.ltx").unlink()
    cfg = tmp_path / "two.yml"
    cfg.write_text(
        f"dbs:\n  - path: {replica / 'db.sqlite'}\n    replicas:\n"
        f"      - name: first\n        url: file://{replica / 'replica'}\n"
        f"      - name: second\n        url: file://{broken}\n"
    )
    db = str(replica / "db.sqlite")
    code, out, err = _run("verify", "-config", str(cfg), db)
    assert code == 1
    assert "replica first:" in out and "replica second:" in out
    assert err.startswith("Error: replica second is broken: newest TXID")
    code, out, _ = _run("verify", "-config", str(cfg), "-json", db)
    reports = json.loads(out)["replicas"]
    assert reports["first"]["ok"] and not reports["second"]["ok"]
    code, out, _ = _run("verify", "-config", str(cfg), "-replica", "first", db)
    assert code == 0 and out.splitlines()[-1] == "ok" and "replica first:" not in out


def test_databases_positions_has_a_row_for_each_of_several_replicas(replica, tmp_path):
    cfg = tmp_path / "two.yml"
    cfg.write_text(
        f"dbs:\n  - path: {replica / 'db.sqlite'}\n    replicas:\n"
        f"      - name: first\n        url: file://{replica / 'replica'}\n"
        f"      - name: second\n        url: file://{tmp_path / 'empty'}\n"
    )
    code, out, _ = _run("databases", "-positions", "-config", str(cfg), "-json")
    assert code == 0
    rows = json.loads(out)
    assert [r["replica"] for r in rows] == ["first:file", "second:file"]
    assert rows[0]["levels"]["0"] == "000000000000000e" and rows[1]["levels"] == {}
