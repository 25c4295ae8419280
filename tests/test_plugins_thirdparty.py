"""A backend written outside this repository works with the unchanged core.

The test writes a third-party distribution from scratch (pyproject plus a module that
registers the scheme ``thirdparty`` with a small directory-backed ReplicaClient),
installs it and the core from this repository into a throwaway venv, and then uses only
public entry points: ``litestream plugins --json`` must list it and
``make_replica_client`` must build its client for a write/list/read round trip. The
shared project venv is never touched; uv's cache keeps reinstalls quick.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PYPROJECT = """
[project]
name = "litestream-thirdparty"
version = "0.7.1"
requires-python = ">=3.11"
dependencies = ["litestream-core>=0.1"]

[project.entry-points."litestream.plugins"]
thirdparty = "litestream_thirdparty.plugin"

[build-system]
requires = ["uv_build>=0.9,<0.20"]
build-backend = "uv_build"

[tool.uv.build-backend]
module-name = "litestream_thirdparty"
module-root = ""
"""

PLUGIN = '''
"""Entry point: registers the scheme, imports the client only when one is built."""
from litestream_core import hookimpl


def _factory(url, options):
    from litestream_thirdparty.client import DirectoryClient

    return DirectoryClient(url.path)


@hookimpl
def litestream_register_replica_clients(register):
    register("thirdparty", _factory, description="LTX files in a directory")
'''

CLIENT = '''
"""A minimal ReplicaClient keeping each LTX file as <root>/<level>/<name>."""
import os
from datetime import UTC, datetime
from pathlib import Path

from litestream_core import BytesStream, LTXFileInfo, ReplicaClient
from litestream_core.errors import LTXNotFoundError


class DirectoryClient(ReplicaClient):
    type = "thirdparty"

    def __init__(self, root):
        self.root = Path(root)

    async def init(self):
        self.root.mkdir(parents=True, exist_ok=True)

    async def close(self):
        pass

    def _path(self, level, min_txid, max_txid):
        return self.root / str(level) / f"{min_txid:016x}-{max_txid:016x}.ltx"

    async def ltx_files(self, level, *, seek=0, use_metadata=False):
        folder = self.root / str(level)
        names = sorted(os.listdir(folder)) if folder.is_dir() else []
        for name in names:
            lo, hi = (int(part, 16) for part in name.removesuffix(".ltx").split("-"))
            if lo >= seek:
                stat = (folder / name).stat()
                yield LTXFileInfo(
                    level, lo, hi, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)
                )

    async def open_ltx_file(self, level, min_txid, max_txid, *, offset=0, size=0):
        try:
            data = self._path(level, min_txid, max_txid).read_bytes()
        except FileNotFoundError as exc:
            raise LTXNotFoundError("no such LTX file", op="open") from exc
        return BytesStream(data[offset : offset + size if size else None])

    async def write_ltx_file(self, level, min_txid, max_txid, data):
        path = self._path(level, min_txid, max_txid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return LTXFileInfo(level, min_txid, max_txid, len(data), datetime.now(UTC))

    async def delete_ltx_files(self, files):
        for info in files:
            self._path(info.level, info.min_txid, info.max_txid).unlink(missing_ok=True)

    async def delete_all(self):
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)
'''

ROUND_TRIP = """
import asyncio, json, sys
from litestream_core.plugins import make_replica_client

async def main(path):
    client = make_replica_client(f"thirdparty://{path}")
    async with client:
        payload = bytes(range(256)) * 64
        await client.write_ltx_file(0, 1, 5, payload)
        await client.write_ltx_file(0, 6, 9, b"later")
        listed = [(i.min_txid, i.max_txid, i.size) async for i in client.ltx_files(0)]
        stream = await client.open_ltx_file(0, 1, 5)
        same = await stream.readall() == payload
    print(json.dumps({"type": type(client).__module__, "listed": listed, "same": same}))

asyncio.run(main(sys.argv[1]))
"""


def write_distribution(root: Path) -> Path:
    source = root / "litestream-thirdparty"
    package = source / "litestream_thirdparty"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(textwrap.dedent(PLUGIN))
    (package / "client.py").write_text(textwrap.dedent(CLIENT))
    return source


@pytest.mark.timeout(300)
def test_third_party_backend_is_discovered_and_used(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is required to build the throwaway venv; install it (pip install uv)")
    source = write_distribution(tmp_path)
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "LITESTREAM_"))}

    def sh(*args: str | Path) -> str:
        done = subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, env=env, timeout=240
        )
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done.stdout

    sh(uv, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    sh(uv, "pip", "install", "--quiet", "--python", python, ROOT, source)

    records = json.loads(sh(venv / "bin" / "litestream", "plugins", "--json"))
    [record] = [r for r in records if r["name"] == "thirdparty"]
    assert record["distribution"] == "litestream-thirdparty"
    assert record["version"] == "0.7.1"
    assert record["status"] == "loaded"
    assert record["schemes"] == ["thirdparty"]

    result = json.loads(sh(python, "-c", ROUND_TRIP, tmp_path / "replica"))
    assert result == {
        "type": "litestream_thirdparty.client",
        "listed": [[1, 5, 16384], [6, 9, 5]],
        "same": True,
    }
    assert (tmp_path / "replica" / "0" / f"{1:016x}-{5:016x}.ltx").is_file()


MARKUP_PLUGIN = """
from typing import Annotated

from litestream_core import hookimpl
from litestream_core.settings import BackendSettings, Setting


class Keys(BackendSettings):
    zone: Annotated[str | None, Setting("http(s)://host[:port][/root] [bold]as is[/bold]")] = None


@hookimpl
def litestream_register_replica_clients(register):
    register("markup", lambda url, settings: None, settings=Keys, description="[red]x[/red]")
"""


def test_plugins_verbose_prints_a_plugins_text_as_written(site) -> None:
    """A backend's help text is shown as it is, never read as rich markup (a '[/root]'
    in it used to end `litestream plugins -v` with a MarkupError)."""
    from click.testing import CliRunner

    from litestream_core.cli import make_cli
    from litestream_core.plugins import get_plugin_manager

    site("litestream-markup", {"markup": MARKUP_PLUGIN})
    cli = make_cli(get_plugin_manager(only={"markup"}))
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["plugins", "-v"])
    assert result.exit_code == 0, result.output
    assert "http(s)://host[:port][/root] [bold]as is[/bold]" in result.output
