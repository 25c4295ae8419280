"""The control socket, both ways: Go's commands drive our daemon, ours drive Go's.

Each test runs a real daemon (ours or the Go binary) with ``socket.enabled`` and a
file replica whose sync interval is an hour, so after the first upload only
``sync -wait`` (or shutdown) puts anything on the replica: a restore that finds every
row proves ``sync -wait`` uploaded everything committed before it.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import LITESTREAM, Writer, rows_of, stop_process, wait_for

from litestream_core import __version__


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory: a Unix socket path must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ls-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Deployment:
    """A database with rows, its replica directory, a socket path and a config."""

    db: Path
    replica: Path
    sock: Path
    cfg: Path
    writer: Writer

    def parts(self) -> tuple[Path, Path, Path, Path, Writer]:
        return self.db, self.replica, self.sock, self.cfg, self.writer


@pytest.fixture
def deployment(tmp_path, sock_dir) -> Iterator[Deployment]:
    db, replica, sock = tmp_path / "app.db", tmp_path / "replica", sock_dir / "ls.sock"
    writer = Writer(db)
    writer.step(5)
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(config_text(sock, db, replica))
    yield Deployment(db, replica, sock, cfg, writer)
    writer.close()


def config_text(sock: Path, db: Path, replica: Path, *, extra: str = "") -> str:
    return (
        f"{extra}socket:\n  enabled: true\n  path: {sock}\n  permissions: 0640\n"
        f"logging:\n  stderr: true\n"
        f"dbs:\n  - path: {db}\n    monitor-interval: 50ms\n"
        f"    replica:\n      url: file://{replica}\n      sync-interval: 1h\n"
    )


@contextmanager
def daemon(binary: list[str], cfg: Path, sock: Path, env=None) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [*binary, "replicate", "-config", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: _accepts(sock) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode()
        yield proc
    finally:
        stop_process(proc)


def _accepts(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(sock))
        except OSError:
            return False
    return True


def run(binary: list[str], *args: str, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*binary, *args], capture_output=True, text=True, timeout=60, env=env)


def run_json(binary: list[str], *args: str, env=None) -> dict:
    result = run(binary, args[0], "-json", *args[1:], env=env)  # Go: flags first
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def restore_rows(binary: list[str], replica: Path, out: Path, env=None) -> list[tuple]:
    result = run(binary, "restore", "-o", str(out), f"file://{replica}", env=env)
    assert result.returncode == 0, result.stderr
    return rows_of(out)


def raw(sock: Path, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One request as bytes on the wire, without any client's interpretation."""
    conn = http.client.HTTPConnection("localhost")
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.connect(str(sock))
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_go_commands_drive_our_daemon(tmp_path, deployment, go_litestream, go_env):
    go = [str(go_litestream)]
    db, replica, sock, cfg, writer = deployment.parts()
    with daemon(LITESTREAM, cfg, sock) as proc:
        mode = os.lstat(sock).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o640

        info = run_json(go, "info", "-socket", str(sock), env=go_env)
        assert (info["pid"], info["database_count"], info["version"]) == (
            proc.pid, 1, __version__)  # fmt: skip

        # sync -wait: everything committed before it is on the replica when it returns.
        writer.step(30)
        synced = run_json(go, "sync", "-wait", "-socket", str(sock), str(db), env=go_env)
        assert synced["db_path"] == str(db) and synced["replica_txid"] == synced["txid"] > 1
        assert restore_rows(go, replica, tmp_path / "go.db", env=go_env) == writer.rows()
        listed = run_json(go, "list", "-socket", str(sock), env=go_env)["databases"]
        assert [(d["path"], d["status"]) for d in listed] == [(str(db), "replicating")]
        assert listed[0]["last_sync_at"]

        # stop (with its final sync), then sync is refused, start brings it back.
        writer.step(3)
        stopped = run_json(go, "stop", "-socket", str(sock), str(db), env=go_env)
        assert (stopped["status"], stopped["state"]) == ("stopped", "stopped")
        assert restore_rows(go, replica, tmp_path / "go2.db", env=go_env) == writer.rows()
        assert run_json(go, "stop", "-socket", str(sock), str(db), env=go_env)["status"] == (
            "already_stopped")  # fmt: skip
        refused = run(go, "sync", "-socket", str(sock), str(db), env=go_env)
        assert refused.returncode == 1
        assert f"Error: sync failed: database not open: {db}" in refused.stderr
        started = run_json(go, "start", "-socket", str(sock), str(db), env=go_env)
        assert (started["status"], started["txid"]) == ("started", stopped["txid"])
        assert run_json(go, "start", "-socket", str(sock), str(db), env=go_env)["status"] == (
            "already_running")  # fmt: skip

        # register / unregister a second database at run time.
        db2, replica2 = tmp_path / "two.db", tmp_path / "replica2"
        second = Writer(db2, seed=2)
        second.step(10)
        args = ["-socket", str(sock), "-replica", f"file://{replica2}", str(db2)]
        assert run_json(go, "register", *args, env=go_env)["status"] == "registered"
        assert run_json(go, "register", *args, env=go_env)["status"] == "already_registered"
        assert run_json(go, "info", "-socket", str(sock), env=go_env)["database_count"] == 2
        second.step(5)
        synced = run_json(go, "sync", "-wait", "-socket", str(sock), str(db2), env=go_env)
        assert restore_rows(go, replica2, tmp_path / "two-go.db", env=go_env) == second.rows()
        gone = run_json(go, "unregister", "-socket", str(sock), str(db2), env=go_env)
        assert (gone["status"], gone["final_txid"]) == ("unregistered", synced["txid"])
        assert run_json(go, "unregister", "-socket", str(sock), str(db2), env=go_env)[
            "status"] == "already_unregistered"  # fmt: skip
        bad = run(go, "register", "-socket", str(sock), "-replica", "bogus://x/y",
                  str(tmp_path / "three.db"), env=go_env)  # fmt: skip
        assert bad.returncode == 1 and "register failed: invalid replica url" in bad.stderr
    assert not sock.exists()  # removed at shutdown, as Go's listener does
    second.close()


def test_our_commands_drive_go_daemon(tmp_path, deployment, go_litestream, go_env):
    go = [str(go_litestream)]
    db, replica, sock, cfg, writer = deployment.parts()
    with daemon(go, cfg, sock, env=go_env) as proc:
        info = run_json(LITESTREAM, "info", "-socket", str(sock))
        assert (info["pid"], info["database_count"]) == (proc.pid, 1)
        text = run(LITESTREAM, "info", "-socket", str(sock)).stdout.splitlines()
        assert text[0].startswith("Litestream ") and text[1] == f"  PID:        {proc.pid}"

        writer.step(30)
        synced = run_json(LITESTREAM, "sync", "-wait", "-socket", str(sock), str(db))
        assert synced["replica_txid"] == synced["txid"] > 1
        assert restore_rows(LITESTREAM, replica, tmp_path / "ours.db") == writer.rows()

        result = run(LITESTREAM, "stop", "-socket", str(sock), str(db))
        assert result.stdout.splitlines() == [
            "status: stopped", f"db_path: {db}", "state: stopped",
            f"txid: {synced['txid']}", f"socket: {sock}",
        ]  # fmt: skip
        listed = run(LITESTREAM, "list", "-socket", str(sock)).stdout
        assert listed.startswith(f"{db} [stopped] (last sync: ")
        refused = run(LITESTREAM, "sync", "-socket", str(sock), str(db))
        assert (refused.returncode, refused.stderr) == (
            1, f"Error: sync failed: database not open: {db}\n")  # fmt: skip
        assert run_json(LITESTREAM, "start", "-socket", str(sock), str(db))["status"] == "started"

        db2, replica2 = tmp_path / "two.db", tmp_path / "replica2"
        second = Writer(db2, seed=2)
        second.step(10)
        args = ["-socket", str(sock), "-replica", f"file://{replica2}", str(db2)]
        assert run_json(LITESTREAM, "register", *args)["status"] == "registered"
        assert run(LITESTREAM, "register", *args).stdout.splitlines()[0] == (
            "status: already registered")  # fmt: skip
        run_json(LITESTREAM, "sync", "-wait", "-socket", str(sock), str(db2))
        assert restore_rows(LITESTREAM, replica2, tmp_path / "two.db.out") == second.rows()
        assert run_json(LITESTREAM, "unregister", "-socket", str(sock), str(db2))[
            "status"] == "unregistered"  # fmt: skip
    second.close()


def test_our_output_is_gos(tmp_path, deployment, go_litestream, go_env):
    """Against one daemon, each command prints what Go's prints (durations aside)."""
    go = [str(go_litestream)]
    db, replica, sock, cfg = deployment.db, deployment.replica, deployment.sock, deployment.cfg
    s = ["-socket", str(sock)]
    with daemon(LITESTREAM, cfg, sock):
        run(LITESTREAM, "sync", "-wait", *s, str(db))  # the first upload is done
        for args in (
            ["list", *s], ["list", "-json", *s], ["start", *s, str(db)],
            ["start", "-json", *s, str(db)], ["sync", *s, str(db)],
            ["sync", "-json", "-wait", *s, str(db)],
            ["sync", "-json=true", "-wait=false", *s, str(db)],
            ["register", *s, "-replica", f"file://{replica}", str(db)],
            ["register", "-json", *s, "-replica", f"file://{replica}", str(db)],
            ["unregister", "-json", *s, str(tmp_path / "none.db")],
            ["sync", *s], ["sync", *s, "a", "b"], ["register", *s, str(db)],
            ["info", *s, "extra"], ["info", "-timeout", "0", *s],
            ["sync", *s, str(tmp_path / "none.db")], ["start", *s, str(tmp_path / "none.db")],
        ):  # fmt: skip
            ours, gos = run(LITESTREAM, *args), run(go, *args, env=go_env)
            assert ours.returncode == gos.returncode, args
            assert _stable(ours.stdout) == _stable(gos.stdout), args
            assert ours.stderr == gos.stderr, args


def _stable(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "duration_ms" not in line)


def test_protocol_errors_are_gos(tmp_path, deployment):
    db, sock, cfg = deployment.db, deployment.sock, deployment.cfg
    with daemon(LITESTREAM, cfg, sock):
        assert raw(sock, "GET", "/txid") == (400, b'{"error":"path required"}\n')
        assert raw(sock, "GET", f"/txid?path={tmp_path}/x.db") == (
            404, b'{"error":"database not found"}\n')  # fmt: skip
        status, body = raw(sock, "GET", f"/txid?path={db}")
        assert status == 200 and json.loads(body)["txid"] >= 1
        status, body = raw(sock, "POST", "/sync", b"garbage")
        assert status == 400 and json.loads(body)["error"] == "invalid request body"
        assert json.loads(body)["details"]
        assert raw(sock, "POST", "/sync", b"{}") == (400, b'{"error":"path required"}\n')
        assert raw(sock, "POST", "/register", json.dumps({"path": str(db)}).encode()) == (
            400, b'{"error":"replica_url required"}\n')  # fmt: skip
        assert raw(sock, "GET", "/sync")[0] == 405
        status, body = raw(sock, "GET", "/debug/sync-status")
        assert status == 200 and json.loads(body)["databases"][0]["path"] == str(db)


def test_socket_never_replaces_another_file(deployment):
    """A regular file at the socket path stays; replication runs without the socket."""
    replica, sock, cfg = deployment.replica, deployment.sock, deployment.cfg
    sock.write_text("precious")
    proc = subprocess.Popen(
        [*LITESTREAM, "replicate", "-config", str(cfg)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: any((replica / "ltx").glob("[0-9]/*.ltx")), timeout=30)  # not level 10
    finally:
        assert stop_process(proc) == 0
    assert sock.read_text() == "precious"
    assert "socket path exists but is not a socket" in proc.stderr.read().decode()

    # A socket left behind by a killed daemon is stale, and is replaced.
    sock.unlink()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()
    with daemon(LITESTREAM, cfg, sock):
        assert raw(sock, "GET", "/info")[0] == 200


def test_runtime_commands_report_errors_in_one_line(tmp_path, sock_dir):
    missing = sock_dir / "none.sock"
    result = run(LITESTREAM, "list", "-socket", str(missing))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: failed to connect to control socket: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = run(LITESTREAM, "sync", "-socket", str(missing))
    assert (result.returncode, result.stderr) == (
        1, "Error: database path required\nTry: litestream sync /path/to/db\n")  # fmt: skip
    dry = run(LITESTREAM, "unregister", "-dry-run", "-socket", str(missing), "x.db")
    assert dry.returncode == 0 and "No unregister request was sent." in dry.stdout
