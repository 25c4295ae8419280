"""The index of installed plugins kept between runs (``litestream_core.plugin_index``).

Against fake distributions on sys.path (the ``site`` fixture): a current index stands
in for the scan, and installing, removing or changing a plugin is seen on the next run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from litestream_core import plugin_index
from litestream_core.cli import make_cli
from litestream_core.plugins import get_plugin_manager, plugin_statuses, replica_client_registry

Site = Callable[..., None]

PLUGIN = """
from litestream_core import hookimpl

@hookimpl
def litestream_register_replica_clients(register):
    register({scheme!r}, lambda url, options: None, description="fake backend")
"""


def _site_root() -> Path:
    return Path(sys.path[0])


def _age(root: Path) -> None:
    """Make the fake site and everything in it look installed an hour ago (the same
    time on every call)."""
    when = int(time.time()) // 3600 * 3600 - 3600
    for path in [root, *root.iterdir()]:
        os.utime(path, (when, when))


def _schemes() -> set[str]:
    return set(replica_client_registry(get_plugin_manager()))


def _no_scan(*_: object) -> plugin_index.Scan:
    raise AssertionError("scanned although the index was current")


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep scans whatever the age of the directories (the workspace's own may have
    changed a moment ago); each test ages its fake site itself. Importing a fake plugin
    writes no bytecode into the site: a new ``__pycache__`` there would change its time
    and rightly make the index stale (CI runs with bytecode on)."""
    monkeypatch.setattr(plugin_index, "RACY_SECONDS", 0.0)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


@pytest.mark.usefixtures("trusting")
def test_a_current_index_stands_in_for_the_scan(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site("litestream-idx", {"idx": PLUGIN.format(scheme="idx")})
    _age(_site_root())
    assert "idx" in _schemes()  # scanned, and kept
    path = plugin_index.index_path()
    assert path is not None
    assert path.exists()
    monkeypatch.setattr(plugin_index, "scan", _no_scan)
    assert "idx" in _schemes()


@pytest.mark.usefixtures("trusting")
def test_installing_and_removing_a_plugin_is_seen(site: Site) -> None:
    site("litestream-one", {"one": PLUGIN.format(scheme="one")})
    _age(_site_root())
    assert "one" in _schemes()
    site("litestream-two", {"two": PLUGIN.format(scheme="two")})
    assert {"one", "two"} <= _schemes()
    shutil.rmtree(_site_root() / "litestream_one-1.0.0.dist-info")
    schemes = _schemes()
    assert "two" in schemes
    assert "one" not in schemes


@pytest.mark.usefixtures("trusting")
def test_an_incompatible_plugin_stays_skipped_when_read_from_the_index(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site("litestream-future", {"future": PLUGIN.format(scheme="future")},
         requires=("litestream-core>=99",))  # fmt: skip
    _age(_site_root())

    def status() -> str:
        (row,) = [s for s in plugin_statuses(get_plugin_manager()) if s.name == "future"]
        return row.status

    first = status()
    assert first.startswith("skipped: incompatible")
    monkeypatch.setattr(plugin_index, "scan", _no_scan)
    assert status() == first
    assert "fake_litestream_future_future" not in sys.modules  # never imported


@pytest.mark.usefixtures("trusting")
def test_a_damaged_index_means_a_scan(site: Site) -> None:
    site("litestream-dmg", {"dmg": PLUGIN.format(scheme="dmg")})
    _age(_site_root())
    path = plugin_index.index_path()
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    for junk in ("{not json", json.dumps({"key": 1}), json.dumps({"found": [{"x": 1}]})):
        path.write_text(junk)
        assert "dmg" in _schemes()


def test_directories_that_just_changed_are_not_indexed(site: Site) -> None:
    site("litestream-new", {"new": PLUGIN.format(scheme="new")})  # written just now
    plugin_index.forget()
    assert "new" in _schemes()
    path = plugin_index.index_path()
    assert path is not None
    assert not path.exists()


@pytest.mark.usefixtures("trusting")
def test_plugins_command_scans_afresh(site: Site) -> None:
    site("litestream-ren", {"before": PLUGIN.format(scheme="ren")})
    root = _site_root()
    _age(root)
    get_plugin_manager()  # the index now names "before"
    # The entry point renamed in place, with every time put back: no run can tell...
    info = root / "litestream_ren-1.0.0.dist-info"
    text = (info / "entry_points.txt").read_text().replace("before =", "after =")
    (info / "entry_points.txt").write_text(text)
    _age(root)
    stale = {s.name for s in plugin_statuses(get_plugin_manager())}
    assert "before" in stale
    # ... but `litestream plugins` shows what is installed, and keeps that.
    result = CliRunner().invoke(make_cli(), ["plugins", "-json"])
    assert result.exit_code == 0, result.output
    assert "after" in {row["name"] for row in json.loads(result.output)}
    assert "after" in {s.name for s in plugin_statuses(get_plugin_manager())}


def test_no_home_means_no_index(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as XDG says
    monkeypatch.setenv("HOME", "relative-home")
    assert plugin_index.index_path() is None
    site("litestream-nohome", {"nohome": PLUGIN.format(scheme="nohome")})
    assert "nohome" in _schemes()
