"""Each network backend's real server with a FaultProxy in front, for the fault suite.

The servers are the ones the backends' own tests start (moto, fake-gcs-server, Azurite,
OpenSSH sshd, nats-server); their launchers are loaded from those conftest files, so
there is one way to start each. ``Backend`` adds what a fault test needs: the replica
block of a config that reaches the server through the proxy, the environment the
replicator needs, and a restart that keeps the server's data where the server can.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from litestream_core.testing.fault_proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = "1s"
"""Every backend's storage deadline in these tests (``timeout``): short, so faults
surface in seconds."""
NAMES = ("s3", "gcs", "abs", "sftp", "nats")
RESTARTABLE = ("abs", "sftp", "nats")
"""Servers that keep their data across a restart (moto keeps it in memory only)."""


def plugin_conftest(name: str) -> ModuleType:
    """The backend's test conftest, loaded as a plain module for its server class."""
    key = f"_litestream_faults_{name}_servers"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, ROOT / "plugins" / name / "tests" /
                                                  "conftest.py")  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Backend:
    """One server, its proxy, and how a replica reaches it (a file replica has neither)."""

    name: str
    server: Any
    proxy: Any  # a FaultProxy, or None for a file replica
    replica: list[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def restart(self) -> None:
        """Stop the server (its sessions end) and start it again on the same port."""
        self.server.stop()
        self.server.start()

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        if self.server is not None:
            self.server.stop()


def start_backend(name: str, work: Path) -> Backend:
    """Start ``name``'s server in ``work``, with a fresh bucket and a proxy in front."""
    work.mkdir(parents=True, exist_ok=True)
    starter = {"s3": _s3, "gcs": _gcs, "abs": _abs, "sftp": _sftp, "nats": _nats}[name]
    return starter(work)


def _s3(work: Path) -> Backend:
    mod = plugin_conftest("s3")
    server = mod.MotoServer(work)
    server.start()
    bucket = server.make_bucket()
    proxy = FaultProxy(server.port)
    replica = [
        "type: s3", f"bucket: {bucket}", "path: app", f"endpoint: {proxy.endpoint}",
        "region: us-east-1", f"access-key-id: {mod.ACCESS_KEY_ID}",
        f"secret-access-key: {mod.SECRET_ACCESS_KEY}", f"timeout: {TIMEOUT}",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return Backend("s3", server, proxy, replica, env)


def _gcs(work: Path) -> Backend:
    mod = plugin_conftest("gcs")
    server = mod.FakeGCS(work)
    server.start()
    bucket = server.make_bucket()
    proxy = FaultProxy(server.port)
    env = {**os.environ, "STORAGE_EMULATOR_HOST": proxy.endpoint}
    return Backend("gcs", server, proxy, [f"url: gs://{bucket}/app", f"timeout: {TIMEOUT}"], env)


def _abs(work: Path) -> Backend:
    mod = plugin_conftest("abs")
    server = mod.Azurite(work)
    server.start()
    container = server.make_container()
    proxy = FaultProxy(server.port)
    replica = [
        "type: abs", f"bucket: {container}", "path: app",
        f"endpoint: {proxy.endpoint}/{mod.ACCOUNT}", f"account-name: {mod.ACCOUNT}",
        f"account-key: {mod.ACCOUNT_KEY}", f"timeout: {TIMEOUT}",
    ]  # fmt: skip
    return Backend("abs", server, proxy, replica)


def _sftp(work: Path) -> Backend:
    mod = plugin_conftest("sftp")
    server = mod.SSHServer(work)
    server.start()
    proxy = FaultProxy(server.port)
    replica = [
        f"url: sftp://{server.user}@127.0.0.1:{proxy.port}{server.root}/app",
        f"key-path: {server.client_key}", f"host-key: {server.host_key}", f"timeout: {TIMEOUT}",
    ]  # fmt: skip
    return Backend("sftp", server, proxy, replica)


def _nats(work: Path) -> Backend:
    mod = plugin_conftest("nats")
    server = mod.NATSServer(work)
    server.start()
    bucket = f"faults-{uuid.uuid4().hex[:10]}"
    asyncio.run(server.create_bucket(bucket))
    proxy = FaultProxy(server.port)
    replica = [f"url: nats://127.0.0.1:{proxy.port}/{bucket}", f"timeout: {TIMEOUT}"]
    return Backend("nats", server, proxy, replica)
