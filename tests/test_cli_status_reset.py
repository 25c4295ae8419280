"""``litestream status`` and ``litestream reset`` on databases our CLI replicated.

The Go binary reads the same local layout, so where it can run on the same files its
output is the reference: the JSON (field names and values) and the table must be equal.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import Writer, litestream, rows_of

from litestream_core.cli.status import human_bytes


def _config(tmp_path: Path, dbs: list[Path], meta: dict[Path, Path] | None = None) -> Path:
    meta = meta or {}
    lines = ["dbs:"]
    for i, db in enumerate(dbs):
        lines.append(f"  - path: {db}")
        if db in meta:
            lines.append(f"    meta-path: {meta[db]}")
        lines += ["    replica:", f"      url: file://{tmp_path / f'replica{i}'}"]
    cfg = tmp_path / "litestream.yml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def _replicated_db(tmp_path: Path, name: str = "app.db", steps: int = 5) -> Path:
    db = tmp_path / name
    writer = Writer(db)
    writer.step(steps)
    writer.close()
    return db


def _replicate_once(cfg: Path) -> None:
    result = litestream("replicate", "-once", "-config", str(cfg))
    assert result.returncode == 0, result.stderr


def _go(go_bin: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(go_bin), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


@pytest.fixture(scope="module")
def four_states(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """One config listing a database in each status Go knows (read-only for the tests)."""
    tmp_path = tmp_path_factory.mktemp("status")
    ok = _replicated_db(tmp_path, "ok.db")
    fresh = _replicated_db(tmp_path, "fresh.db", steps=1)
    missing = tmp_path / "missing.db"
    broken = _replicated_db(tmp_path, "broken.db", steps=1)
    _replicate_once(_config(tmp_path, [ok]))
    broken_meta = tmp_path / "broken-meta"
    (broken_meta / "ltx").mkdir(parents=True)
    (broken_meta / "ltx" / "0").write_text("a file where the L0 directory should be")
    cfg = _config(tmp_path, [ok, fresh, missing, broken], meta={broken: broken_meta})
    return cfg, {"ok": ok, "not initialized": fresh, "no database": missing, "error": broken}


@pytest.mark.parametrize("json_flag", ["-json", "--json"])
def test_status_json_equals_go(four_states, go_litestream, go_env, json_flag) -> None:
    cfg, dbs = four_states
    ours = litestream("status", "-config", str(cfg), json_flag)
    assert ours.returncode == 0, ours.stderr
    theirs = _go(go_litestream, go_env, "status", "-config", str(cfg), "-json")
    assert theirs.returncode == 0, theirs.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    by_db = {row["database"]: row for row in json.loads(ours.stdout)}
    assert {by_db[str(path)]["status"] for path in dbs.values()} == set(dbs)
    assert by_db[str(dbs["ok"])]["local_txid"] != "-"


def test_status_table_equals_go(four_states, go_litestream, go_env) -> None:
    cfg, _ = four_states
    ours = litestream("status", "--config", str(cfg))
    theirs = _go(go_litestream, go_env, "status", "-config", str(cfg))
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout


def test_status_filters_to_one_database(four_states, go_litestream, go_env) -> None:
    cfg, dbs = four_states
    for wanted in (str(dbs["ok"]), str(dbs["ok"].parent / "nope.db")):
        ours = litestream("status", "-config", str(cfg), "-json", wanted)
        theirs = _go(go_litestream, go_env, "status", "-config", str(cfg), "-json", wanted)
        assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    rows = json.loads(litestream("status", "-config", str(cfg), "-json", str(dbs["ok"])).stdout)
    assert [row["database"] for row in rows] == [str(dbs["ok"])]


def test_status_local_txid_follows_replication(tmp_path: Path) -> None:
    db = _replicated_db(tmp_path)
    cfg = _config(tmp_path, [db])
    _replicate_once(cfg)
    before = json.loads(litestream("status", "-config", str(cfg), "-json").stdout)[0]
    writer = Writer(db, seed=2)
    writer.step(3)
    writer.close()
    _replicate_once(cfg)
    after = json.loads(litestream("status", "-config", str(cfg), "-json").stdout)[0]
    assert int(after["local_txid"], 16) > int(before["local_txid"], 16)


def test_status_missing_config_is_one_error_line(tmp_path: Path) -> None:
    result = litestream("status", "-config", str(tmp_path / "nope.yml"))
    assert result.returncode == 1
    assert (
        result.stderr.startswith("Error: config file not found") and result.stderr.count("\n") == 1
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (9, "9 B"), (999, "999 B"), (1000, "1.0 kB"), (1500, "1.5 kB"),
     (9999, "10 kB"), (20632, "21 kB"), (4_120_000, "4.1 MB"), (10**12, "1.0 TB")],
)  # fmt: skip
def test_human_bytes_matches_go_humanize(size: int, text: str) -> None:
    assert human_bytes(size) == text


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reset_dry_run_equals_go_and_removes_nothing(tmp_path, go_litestream, go_env) -> None:
    db = _replicated_db(tmp_path)
    _replicate_once(_config(tmp_path, [db]))
    files = sorted((tmp_path / ".app.db-litestream" / "ltx").rglob("*.ltx"))
    assert files
    ours = litestream("reset", "-dry-run", str(db))
    theirs = _go(go_litestream, go_env, "reset", "-dry-run", str(db))
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout
    assert all(str(f) in ours.stdout for f in files)
    assert sorted((tmp_path / ".app.db-litestream" / "ltx").rglob("*.ltx")) == files


def test_reset_removes_ltx_state_and_replication_continues(tmp_path: Path) -> None:
    db = _replicated_db(tmp_path)
    cfg = _config(tmp_path, [db])
    _replicate_once(cfg)
    ltx_dir = tmp_path / ".app.db-litestream" / "ltx"
    digest = _digest(db)
    result = litestream("reset", "--config", str(cfg), str(db))
    assert result.returncode == 0, result.stderr
    assert "Reset complete" in result.stdout
    assert not ltx_dir.exists()
    assert _digest(db) == digest

    status = json.loads(litestream("status", "-config", str(cfg), "-json").stdout)[0]
    assert status["status"] == "not initialized"
    writer = Writer(db, seed=3)
    writer.step(4)
    expected = writer.rows()
    writer.close()
    _replicate_once(cfg)
    assert list(ltx_dir.glob("0/*.ltx"))
    out = tmp_path / "restored.db"
    restored = litestream("restore", "-config", str(cfg), "-o", str(out), str(db))
    assert restored.returncode == 0, restored.stderr
    assert rows_of(out) == expected


def test_reset_uses_meta_path_only_with_config(tmp_path: Path) -> None:
    db = _replicated_db(tmp_path)
    meta = tmp_path / "custom-meta"
    cfg = _config(tmp_path, [db], meta={db: meta})
    _replicate_once(cfg)
    assert list(meta.glob("ltx/0/*.ltx"))
    without = litestream("reset", str(db))
    assert without.returncode == 0 and "No local state to reset" in without.stdout
    assert list(meta.glob("ltx/0/*.ltx"))
    with_cfg = litestream("reset", "-config", str(cfg), str(db))
    assert with_cfg.returncode == 0, with_cfg.stderr
    assert meta.is_dir() and not (meta / "ltx").exists()


def test_reset_refuses_a_tree_that_is_not_litestreams(tmp_path: Path) -> None:
    db = _replicated_db(tmp_path)
    _replicate_once(_config(tmp_path, [db]))
    ltx_dir = tmp_path / ".app.db-litestream" / "ltx"
    stranger = ltx_dir / "0" / "notes.txt"
    stranger.write_text("not an LTX file")
    before = sorted(ltx_dir.rglob("*"))
    result = litestream("reset", str(db))
    assert result.returncode == 1
    assert "refusing to reset" in result.stderr and result.stderr.count("\n") == 1
    assert sorted(ltx_dir.rglob("*")) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [((), "database path required"), (("a.db", "b.db"), "too many arguments"),
     (("missing.db",), "database does not exist")],
)  # fmt: skip
def test_reset_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = litestream("reset", *args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: {message}") and result.stderr.count("\n") == 1


def test_status_and_ltx_of_a_path_need_no_config(tmp_path: Path) -> None:
    """As `reset DB_PATH` does, they read the default meta directory beside the database."""
    assert not Path("/etc/litestream.yml").exists(), "this test needs no default config"
    db = _replicated_db(tmp_path)
    result = litestream("replicate", "-once", str(db), f"file://{tmp_path / 'replica'}")
    assert result.returncode == 0, result.stderr
    env_free = {k: v for k, v in os.environ.items() if k != "LITESTREAM_CONFIG"}
    status = litestream("status", "-json", str(db), env=env_free)
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)
    assert (row["database"], row["status"]) == (str(db), "ok")
    assert int(row["local_txid"], 16) >= 1
    listing = litestream("ltx", "-json", str(db), env=env_free)
    assert listing.returncode == 0, listing.stderr
    assert [f["max_txid"] for f in json.loads(listing.stdout)][-1] == row["local_txid"]
    assert str(tmp_path / ".app.db-litestream") in listing.stderr
    missing = litestream("status", "-json", str(tmp_path / "none.db"), env=env_free)
    assert json.loads(missing.stdout)[0]["status"] == "no database"
    everything = litestream("status", env=env_free)
    assert everything.returncode == 1 and "config file not found" in everything.stderr
