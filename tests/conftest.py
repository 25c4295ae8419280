"""Fixtures shared by the core's tests.

``go_litestream`` (the Go Litestream 0.5.17 binary, the interop peer; a missing peer is
a failure, not a skip) and ``go_env`` come from the ``litestream`` pytest plugin
(litestream_core.testing.pytest_plugin), which backend tests use too.

``site`` installs fake distributions for plugin tests: each is a real ``.dist-info``
directory (METADATA, entry_points.txt) beside its module, so ``importlib.metadata``
finds it exactly as it finds an installed one, and discovery, the version check and the
entry-point import are the real code paths.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from litestream_core.testing.servers import answers_http, free_port, start_server, stop_server

Site = Callable[..., None]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """Install fake distributions into a fresh sys.path entry (plugin selection and
    strict mode start unset)."""
    monkeypatch.delenv("LITESTREAM_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("LITESTREAM_STRICT_PLUGINS", raising=False)
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    modules: list[str] = []

    def install(
        dist: str,
        plugins: dict[str, str],
        *,
        version: str = "1.0.0",
        requires: tuple[str, ...] = ("litestream-core>=0.1",),
    ) -> None:
        """``plugins`` maps an entry-point name to its module's source."""
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        (info / "METADATA").write_text("\n".join(lines) + "\n")
        eps = ["[litestream.plugins]"]
        for name, source in plugins.items():
            module = f"fake_{dist.replace('-', '_')}_{name}"
            (root / f"{module}.py").write_text(textwrap.dedent(source))
            eps.append(f"{name} = {module}")
            modules.append(module)
        (info / "entry_points.txt").write_text("\n".join(eps) + "\n")

    yield install
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs (mounting needs root, which CI has), for a disk that fills up."""
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def moto_port(tmp_path: Path) -> Iterator[int]:
    """A moto S3 server on a free port (``make_bucket`` adds buckets)."""
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = start_server(argv, answers_http(f"http://127.0.0.1:{port}/moto-api/"),
                        name="moto_server", port=port, log=tmp_path / "moto.log")  # fmt: skip
    try:
        yield port
    finally:
        stop_server(proc)
