"""``litestream restore`` as a user runs it: flags, output, and one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import LITESTREAM, litestream, make_history
from litestream_file.client import FileReplicaClient


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    root = tmp_path_factory.mktemp("replica")
    client = FileReplicaClient(root / "replica")

    async def build():
        await client.init()
        return await make_history(root, n=6, client=client)

    chain = asyncio.run(build())
    return root / "replica", chain


def test_restore_latest_json(history, tmp_path):
    replica, chain = history
    out = tmp_path / "db"
    result = litestream("restore", "-o", str(out), "-json", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["txid"] == f"{chain.txid:016x}" and body["db_path"] == str(out)
    assert out.read_bytes() == chain.states[chain.txid]


@pytest.mark.parametrize("dash", ["-", "--"])
def test_restore_txid_and_double_dash_flags(history, tmp_path, dash):
    replica, chain = history
    out = tmp_path / "db"
    result = litestream("restore", f"{dash}o", str(out), f"{dash}txid", f"{3:016x}",
                        f"{dash}integrity-check", "full", f"file://{replica}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == chain.states[3]


def test_restore_timestamp(history, tmp_path):
    replica, chain = history
    out = tmp_path / "db"
    # Chain file TXID n is stamped 1_700_000_000 + n seconds.
    result = litestream("restore", "-o", str(out), "-timestamp", "2023-11-14T22:13:24.500Z",
                        f"file://{replica}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == chain.states[4]
    late = tmp_path / "late"
    result = litestream("restore", "-o", str(late), "-timestamp", "2099-01-01T00:00:00Z",
                        f"file://{replica}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert late.read_bytes() == chain.states[chain.txid]


def test_dry_run_prints_plan_and_touches_nothing(history, tmp_path):
    replica, chain = history
    out = tmp_path / "db"
    result = litestream("restore", "-dry-run", "-o", str(out), f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert "Files to fetch:" in result.stdout and f"{chain.txid:016x}" in result.stdout
    assert not out.exists() and list(tmp_path.iterdir()) == []
    result = litestream("restore", "-dry-run", "-json", "-o", str(out), f"file://{replica}")
    plan = json.loads(result.stdout)
    assert len(plan["files"]) == chain.txid


def test_if_flags(history, tmp_path):
    replica, _ = history
    out = tmp_path / "db"
    out.write_bytes(b"existing")
    result = litestream("restore", "-if-db-not-exists", "-o", str(out), f"file://{replica}")
    assert result.returncode == 0 and out.read_bytes() == b"existing"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = litestream("restore", "-if-replica-exists", "-o", str(tmp_path / "new"),
                        f"file://{empty}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "new").exists()


def test_force_replaces(history, tmp_path):
    replica, chain = history
    out = tmp_path / "db"
    out.write_bytes(b"existing")
    result = litestream("restore", "-o", str(out), f"file://{replica}")
    assert result.returncode == 1 and out.read_bytes() == b"existing"
    assert result.stderr.startswith("Error: database already exists")
    result = litestream("restore", "-force", "-o", str(out), f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == chain.states[chain.txid]


def test_restore_by_db_path_from_config(history, tmp_path):
    replica, chain = history
    db = tmp_path / "app.db"
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"dbs:\n  - path: {db}\n    replica:\n      path: {replica}\n")
    result = litestream("restore", "-config", str(cfg), str(db))
    assert result.returncode == 0, result.stderr
    assert db.read_bytes() == chain.states[chain.txid]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{out}", "file://{empty}"], "no backups found"),
        (["-o", "{out}", "-txid", "zz", "file://{replica}"], "invalid -txid"),
        (["-o", "{out}", "-timestamp", "yesterday", "file://{replica}"], "invalid -timestamp"),
        (["-o", "{out}", "-txid", "1", "-timestamp", "2020-01-01T00:00:00Z", "file://{replica}"],
         "both -txid and -timestamp"),
        (["-o", "{out}", "-txid", "ff", "file://{replica}"], "beyond the newest"),
        (["file://{replica}"], "-o PATH"),
        (["-o", "{out}", "nope://x/y"], "unknown replica URL scheme"),
        (["-config", "{tmp}/missing.yml", "{tmp}/app.db"], "config file not found"),
        (["-config", "{tmp}/bad.yml", "{tmp}/app.db"], "invalid YAML"),
        (["-config", "{tmp}/typo.yml", "{tmp}/app.db"], "unknown key 'replika'"),
        (["-o", "{out}", "-integrity-check", "some", "file://{replica}"], "some"),
        (["-o", "{tmp}/empty", "file://{replica}"], "output path is a directory: {tmp}/empty"),
        (["-o", "{tmp}/bad.yml/db", "file://{replica}"], "not a directory"),
        (["-output", "{out}", "file://{replica}"], "flag provided but not defined: -output"),
        (["-o", "{out}", "-force=maybe", "file://{replica}"], 'invalid boolean value "maybe"'),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line(history, tmp_path, args, message):
    replica, _ = history
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.yml").write_text("dbs: [\n")
    (tmp_path / "typo.yml").write_text(f"dbs:\n  - path: {tmp_path}/app.db\n    replika: {{}}\n")
    values = {"out": tmp_path / "out.db", "empty": tmp_path / "empty", "replica": replica,
              "tmp": tmp_path}  # fmt: skip
    result = litestream("restore", *(a.format(**values) for a in args))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    expected = message.format(**values)
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], lines
    assert not (tmp_path / "out.db").exists()


def test_go_flag_spellings_and_a_missing_output_directory(history, tmp_path):
    """`-o=PATH`, `--o PATH`, `-flag=true`: Go's flag syntax; missing directories are made."""
    replica, chain = history
    out = tmp_path / "new" / "dirs" / "db"
    result = litestream("restore", f"-o={out}", "-if-db-not-exists=false", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == chain.states[chain.txid]
    result = litestream("restore", "--o", str(out), "-force=true", "--json", f"file://{replica}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["txid"] == f"{chain.txid:016x}"
    result = litestream("restore", "-o", str(out), "-force=false", f"file://{replica}")
    assert result.returncode == 1 and "already exists" in result.stderr


def test_corrupted_replica_file_fails_cleanly(history, tmp_path):
    replica, _ = history
    copy = tmp_path / "replica"

    shutil.copytree(replica, copy)
    victim = sorted((copy / "ltx" / "0").glob("*.ltx"))[2]
    data = bytearray(victim.read_bytes())
    data[200] ^= 0x55
    victim.write_bytes(bytes(data))
    out = tmp_path / "out.db"
    result = litestream("restore", "-o", str(out), f"file://{copy}")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replica"]
    victim.unlink()
    result = litestream("restore", "-o", str(out), f"file://{copy}")
    assert result.returncode == 1 and "non-contiguous" in result.stderr


def test_progress_bar_on_a_terminal(history, tmp_path):
    """On a terminal, stderr shows a progress bar that reaches 100%; piped, it does not."""
    replica, chain = history
    out = tmp_path / "db"
    main, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [*LITESTREAM, "restore", "-o", str(out), f"file://{replica}"],
            stdout=subprocess.PIPE, stderr=secondary, timeout=120,
        )  # fmt: skip
        os.close(secondary)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal is drained
            while chunk := os.read(main, 4096):
                shown += chunk
    finally:
        os.close(main)
    assert proc.returncode == 0, shown
    assert b"restoring" in shown and b"100%" in shown
    assert out.read_bytes() == chain.states[chain.txid]
    piped = litestream("restore", "-o", str(tmp_path / "db2"), f"file://{replica}")
    assert "restoring" not in piped.stderr and piped.returncode == 0
