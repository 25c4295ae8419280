"""A real WebDAV server for the tests: WsgiDAV under gunicorn on 127.0.0.1.

WsgiDAV's own default server (cheroot) answers the Go binary's requests with "400
Malformed Request-Line"; under gunicorn both tools work with it. It serves a directory
of the test's temporary space with basic authentication.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from litestream_core.testing.servers import (
    answers_http,
    free_port,
    running,
    start_server,
    stop_server,
)

USER = "litestream"
PASSWORD = "dav-secret-do-not-print-7c1e"


def self_signed_certificate(home: Path) -> tuple[Path, Path]:
    """(certificate, key) files for 127.0.0.1, the certificate its own CA."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = home / "cert.pem", home / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class WsgiDAVServer:
    """One WsgiDAV server; ``root`` is the directory it serves.

    ``digest`` asks clients for digest authentication instead of basic; ``tls`` serves
    https with a self-signed certificate (``certificate``), which clients trust through
    ``SSL_CERT_FILE``.
    """

    def __init__(self, home: Path, *, digest: bool = False, tls: bool = False) -> None:
        self.home = home
        self.root = home / "data"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.tls = tls
        self.endpoint = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.certificate: Path | None = None
        ssl_lines: list[str] = []
        if tls:
            self.certificate, key = self_signed_certificate(home)
            ssl_lines = [f"ssl_certificate: '{self.certificate}'", f"ssl_private_key: '{key}'"]
        self.config_file = home / "dav.yaml"  # WsgiDAV wants the .yaml suffix
        self.config_file.write_text(
            "\n".join(
                [
                    *ssl_lines,
                    "host: 127.0.0.1",
                    f"port: {self.port}",
                    "server: gunicorn",
                    # One process (its lock manager is in memory), threads for parallel requests.
                    "server_args: {workers: 1, threads: 16, timeout: 120}",
                    "provider_mapping:",
                    f"  '/': '{self.root}'",
                    "http_authenticator:",
                    f"  accept_basic: {'false' if digest else 'true'}",
                    f"  accept_digest: {'true' if digest else 'false'}",
                    f"  default_to_digest: {'true' if digest else 'false'}",
                    "simple_dc:",
                    "  user_mapping:",
                    f"    '*': {{'{USER}': {{password: '{PASSWORD}'}}}}",
                    "verbose: 1",
                    "logging: {enable_loggers: []}",
                    "",
                ]
            )
        )
        self._proc: Any = None

    def url(self, path: str, *, auth: bool = True) -> str:
        scheme = "webdavs" if self.tls else "webdav"
        userinfo = f"{USER}:{PASSWORD}@" if auth else ""
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}/{path.lstrip('/')}"

    def options(self, **extra: Any) -> dict[str, Any]:
        """Go's config keys reaching this server (for a replica given by type and path)."""
        return {
            "webdav-url": self.endpoint,
            "webdav-username": USER,
            "webdav-password": PASSWORD,
            **extra,
        }

    def start(self) -> None:
        wsgidav = Path(sys.executable).with_name("wsgidav")
        if not wsgidav.exists():
            pytest.fail(f"{wsgidav} missing: run `uv sync` (wsgidav is in the dev group)")
        self._proc = start_server(
            [str(wsgidav), "--config", str(self.config_file)],
            answers_http(f"{self.endpoint}/", any_status=True, verify=False),
            name="wsgidav",
            port=self.port,
            log=self.home / "wsgidav.log",
        )

    def stop(self) -> None:
        stop_server(self._proc)
        self._proc = None


@pytest.fixture
def digest_dav(tmp_path: Path) -> Iterator[WsgiDAVServer]:
    """A server that asks for digest authentication."""
    with running(WsgiDAVServer(tmp_path / "digest", digest=True)) as server:
        yield server


@pytest.fixture
def tls_dav(tmp_path: Path) -> Iterator[WsgiDAVServer]:
    """A server on https, with a self-signed certificate."""
    with running(WsgiDAVServer(tmp_path / "tls", tls=True)) as server:
        yield server


@pytest.fixture(scope="session")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsgiDAVServer]:
    """One WebDAV server for the session (tests use their own directory)."""
    with running(WsgiDAVServer(tmp_path_factory.mktemp("dav"))) as server:
        yield server
