"""Helpers for tests that start real storage servers on 127.0.0.1 as child processes."""

from __future__ import annotations

import random
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

HOST = "127.0.0.1"


_SERVER_PORTS = range(20000, 32768)
"""Below Linux's ephemeral range (32768-60999): a port handed out here is never taken
by an outgoing connection of another process between the check and the server's own
bind (or a fault proxy's re-bind after ``refuse``), which happened under load."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    for _ in range(100):
        port = random.choice(_SERVER_PORTS)
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_until_serving(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    name: str,
    port: int,
    log: Path,
    timeout: float = 30.0,
) -> None:
    """Return once ``ready()`` says the server answers; fail the test (with the end of
    its log) when it exits first or does not answer within ``timeout`` seconds.

    ``ready`` may raise OSError while the server is still starting.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{name} did not start on port {port}")


def start_server(
    argv: Sequence[str],
    ready: Callable[[], bool],
    *,
    name: str,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> subprocess.Popen[bytes]:
    """``argv`` as a child process, its output appended to ``log``; returned once
    ``ready()`` (see ``wait_until_serving``)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )
    wait_until_serving(proc, ready, name=name, port=port, log=log, timeout=timeout)
    return proc


def stop_server(proc: subprocess.Popen[bytes] | None, *, kill: bool = False) -> None:
    """End a server started by ``start_server``: SIGTERM, or SIGKILL (a crash) with ``kill``."""
    if proc is None:
        return
    if kill:
        proc.kill()
    else:
        proc.terminate()
    proc.wait(timeout=10)


class _Server(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


_S = TypeVar("_S", bound=_Server)


@contextmanager
def running(server: _S) -> Iterator[_S]:
    """The server started, for a fixture to yield, and stopped afterwards."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def greets_with(port: int, banner: bytes) -> Callable[[], bool]:
    """A readiness check: the server's first bytes on a new connection start with ``banner``."""

    def ready() -> bool:
        with socket.create_connection((HOST, port), timeout=1) as s:
            return s.recv(len(banner)).startswith(banner)

    return ready


def answers_http(url: str, *, any_status: bool = False, verify: bool = True) -> Callable[[], bool]:
    """A readiness check: ``url`` answers with success, or with any status at all when
    ``any_status`` (a server that refuses anonymous requests is still up)."""
    context = None if verify else ssl._create_unverified_context()

    def ready() -> bool:
        try:
            urllib.request.urlopen(url, timeout=1, context=context).close()
        except urllib.error.HTTPError:
            if not any_status:
                raise
        return True

    return ready
