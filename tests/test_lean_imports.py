"""What short commands and a replicator load: only what their work needs.

Each command runs in a fresh interpreter and reports ``sys.modules`` as it exits. With
the plugin index current (``plugin_index``), a restore from a ``file://`` URL and a
``replicate`` of a file replica never load plugin discovery's machinery
(``importlib.metadata``, ``packaging``), YAML (no config file), msgspec (a URL without
options converts no settings), rich (structlog would bring it for nothing) or any
object-store SDK.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

NEVER = ("importlib.metadata", "packaging", "yaml", "msgspec", "rich", "pygments",
         "boto3", "botocore", "google.cloud", "azure", "paramiko", "nats")  # fmt: skip

RUN = """
import atexit, json, os, sys
def report(path=sys.argv[1]):
    with open(path, "w") as out:
        out.write(json.dumps(sorted(sys.modules)))
atexit.register(report)
def leave(code, _exit=os._exit):  # a replicator leaves through os._exit, past atexit
    report()
    _exit(code)
os._exit = leave
from litestream_core.cli import main
sys.argv = ["litestream", *sys.argv[2:]]
main()
"""

INDEX = """
from litestream_core import plugin_index
plugin_index.RACY_SECONDS = float("-inf")  # keep it: nothing changes before the next run
from litestream_core.plugins import get_plugin_manager
get_plugin_manager()
"""


def _modules(tmp: Path, *argv: str) -> set[str]:
    """``litestream ARGV``'s modules, run in ``tmp/cwd`` (which nothing writes to: it
    is on sys.path, so the index is current only while it is unchanged)."""
    out = tmp / "modules.json"
    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-c", RUN, str(out), *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(out.read_text()))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


@pytest.fixture
def replica(tmp_path: Path) -> str:
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (v TEXT)")
    con.execute("INSERT INTO t VALUES ('hello')")
    con.commit()
    con.close()
    url = f"file://{tmp_path / 'replica'}"
    # The same interpreter and working directory as the runs below: the same index.
    (tmp_path / "cwd").mkdir()
    subprocess.run([sys.executable, "-c", INDEX], cwd=tmp_path / "cwd", check=True, timeout=60)
    modules = _modules(tmp_path, "replicate", "-once", str(db), url)
    assert not _loaded(modules, NEVER)
    return url


def test_restore_from_a_file_url_loads_no_discovery_yaml_or_sdk(
    tmp_path: Path, replica: str
) -> None:
    out = tmp_path / "out.db"
    modules = _modules(tmp_path, "restore", "-o", str(out), replica)
    assert not _loaded(modules, NEVER)
    assert sqlite3.connect(out).execute("SELECT v FROM t").fetchall() == [("hello",)]


def test_version_loads_no_plugin_or_engine(tmp_path: Path) -> None:
    modules = _modules(tmp_path, "version")
    assert not _loaded(modules, (*NEVER, "pluggy", "asyncio", "apsw", "structlog"))


def test_settings_from_nothing_are_what_msgspec_would_build() -> None:
    """The shortcut that keeps msgspec out of a bare URL's path changes no value."""
    import msgspec

    from litestream_core.plugins import get_plugin_manager, replica_client_registry
    from litestream_core.settings import Settings

    seen = 0
    for spec in replica_client_registry(get_plugin_manager()).values():
        cls = spec.settings
        if cls is None:
            continue
        try:
            expected = msgspec.convert({}, cls, strict=False)
        except msgspec.ValidationError:
            continue  # a required key: the shortcut does not apply
        assert isinstance(expected, Settings)
        assert cls.from_options({}) == expected, spec.scheme
        seen += 1
    assert seen >= 3
