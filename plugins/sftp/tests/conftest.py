"""A private OpenSSH sshd on 127.0.0.1 for the SFTP backend's tests.

Each server has its own host key, client key, config file and free port, and runs in
the foreground as a child of the test process. The system's sshd is never touched.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from litestream_core.testing.servers import free_port, greets_with, running, start_server

SSHD = "/usr/sbin/sshd"


def _children(pid: int) -> list[int]:
    """Every process whose parent chain reaches ``pid`` (sshd's per-session processes)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found.extend(kids)
        todo.extend(kids)
    return found


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True
    )


class SSHServer:
    """One sshd; ``stop()`` also ends its sessions, like a crashed or rebooted server."""

    def __init__(self, home: Path, extra_config: tuple[str, ...] = ()) -> None:
        if not os.path.exists(SSHD):
            pytest.fail(f"{SSHD} missing: run .ci/deps/sftp.sh (apt-get install openssh-server)")
        self.home = home
        self.root = home / "data"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key_file = home / "host_key"
        self.client_key = home / "client_key"
        keygen(self.host_key_file)
        keygen(self.client_key)
        shutil.copy(home / "client_key.pub", home / "authorized_keys")
        self.config_file = home / "sshd_config"
        self.config_file.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key_file}",
                    f"PidFile {home / 'sshd.pid'}",
                    f"AuthorizedKeysFile {home / 'authorized_keys'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                    *extra_config,
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> str:
        """The server's public key line, as the ``host-key`` option takes it."""
        return (self.home / "host_key.pub").read_text().strip()

    def url(self, path: str | Path) -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{path}"

    def options(self, **extra: Any) -> dict[str, Any]:
        return {"key-path": str(self.client_key), "host-key": self.host_key, **extra}

    def start(self) -> None:
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = start_server(
            [SSHD, "-D", "-e", "-f", str(self.config_file)],
            greets_with(self.port, b"SSH-"),
            name="sshd",
            port=self.port,
            log=self.home / "sshd.log",
            timeout=15,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        victims = [*_children(self.proc.pid), self.proc.pid]
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def stranger_key(tmp_path: Path) -> tuple[Path, str]:
    """A key pair the server does not know: (private key path, public key line)."""
    keygen(tmp_path / "stranger")
    return tmp_path / "stranger", (tmp_path / "stranger.pub").read_text().strip()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    with running(SSHServer(tmp_path_factory.mktemp("sshd"))) as server:
        yield server


@pytest.fixture
def private_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A server of the test's own, for tests that stop or restart it."""
    with running(SSHServer(tmp_path_factory.mktemp("sshd"))) as server:
        yield server


PASSWORD_USER = "litestream-sftp-test"
"""A dedicated account for password logins, made by .ci/deps/sftp.sh with no shell and
no home; only the tests' own sshd lets it in by password, and only for SFTP."""

PASSWORD_FILE = Path("/run/litestream-sftp-test.password")
"""The account's random password, made once per boot (``/run`` is a tmpfs) and shared by
every test process, so concurrent suites (worktrees, pytest-xdist workers) agree on it."""


def _shared_password() -> str:
    import fcntl
    import secrets

    with open(PASSWORD_FILE, "a+", opener=lambda p, f: os.open(p, f, 0o600)) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        password = handle.read().strip()
        if not password:
            password = secrets.token_urlsafe(18)
            handle.write(password)
            handle.flush()
        # Set every time: an older checkout's tests may have changed or locked it.
        subprocess.run(["chpasswd"], input=f"{PASSWORD_USER}:{password}".encode(), check=True)
    return password


class PasswordLogin:
    """The dedicated user, its session password, and a directory it may write."""

    def __init__(self, password: str, root: Path) -> None:
        self.user = PASSWORD_USER
        self.password = password
        self.root = root


@pytest.fixture(scope="session")
def password_login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordLogin]:
    import pwd
    import tempfile

    try:
        account = pwd.getpwnam(PASSWORD_USER)
    except KeyError:
        pytest.fail(f"user {PASSWORD_USER} missing: run .ci/deps/sftp.sh (as root)")
    password = _shared_password()
    # pytest's temporary directories are private to root; this one the user can reach.
    top = Path(tempfile.mkdtemp(prefix="litestream-sftp-"))
    top.chmod(0o755)
    root = top / "data"
    root.mkdir()
    os.chown(root, account.pw_uid, account.pw_gid)
    try:
        yield PasswordLogin(password, root)
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def password_sshd(
    tmp_path_factory: pytest.TempPathFactory, password_login: PasswordLogin
) -> Iterator[SSHServer]:
    """An sshd that accepts passwords from the dedicated user only, for SFTP only."""
    extra = (
        f"Match User {PASSWORD_USER}",
        "    PasswordAuthentication yes",
        "    ForceCommand internal-sftp",
        "    AllowTcpForwarding no",
    )
    with running(SSHServer(tmp_path_factory.mktemp("sshd"), extra)) as server:
        yield server
