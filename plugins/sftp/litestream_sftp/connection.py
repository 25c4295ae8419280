"""Opening an authenticated SFTP session: TCP, SSH handshake, host key check, login.

Blocking (paramiko); the client calls it from a worker thread. The host key is checked
before any credential is sent, so a spoofed server never sees a password.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import os
import socket
from dataclasses import dataclass

import paramiko
from paramiko.ssh_exception import IncompatiblePeer

from litestream_core.errors import ConfigError, ReplicaPermissionError, TransientReplicaError
from litestream_sftp.config import SFTPConfig

log = logging.getLogger("litestream.sftp")
# paramiko's transport thread logs a failed handshake as a multi-line traceback; with no
# handler configured, Python prints it to stderr. Every such failure reaches the user
# as our own one-line error instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_RSA_SIGNATURES = ("rsa-sha2-512", "rsa-sha2-256")
KEEPALIVE_SECONDS = 15
"""SSH keepalives, so a server that vanished is noticed while the connection is idle."""


@dataclass(slots=True)
class Session:
    """One SSH connection with its SFTP channel."""

    transport: paramiko.Transport
    sftp: paramiko.SFTPClient

    def close(self) -> None:
        for closer in (self.sftp.close, self.transport.close):
            try:
                closer()
            except (OSError, EOFError, paramiko.SSHException):
                log.debug("error while closing an sftp session", exc_info=True)


def parse_host_key(line: str) -> paramiko.PKey:
    """A public key from an authorized_keys (or known_hosts) line, like Go's parser."""
    tokens = line.split()
    for kind, blob in itertools.pairwise(tokens):
        try:
            data = base64.b64decode(blob, validate=True)
            return paramiko.PKey.from_type_string(kind, data)
        except (binascii.Error, ValueError, paramiko.SSHException):
            continue
    raise ConfigError("cannot parse sftp host key: expected '<type> <base64 key>'")


def _known_keys(config: SFTPConfig) -> list[paramiko.PKey]:
    """Keys for this server in the configured known_hosts files (hashed names too)."""
    found: list[paramiko.PKey] = []
    for path in config.known_hosts:
        expanded = os.path.expanduser(path)
        if not os.path.exists(expanded):
            continue
        try:
            hosts = paramiko.HostKeys(expanded)
        except (OSError, paramiko.SSHException) as exc:
            raise ConfigError(f"sftp: cannot read known hosts file {expanded}: {exc}") from exc
        entry = hosts.lookup(config.known_hosts_name)
        if entry is not None:
            found.extend(entry[kind] for kind in entry)
    return found


def _expected_keys(config: SFTPConfig) -> list[paramiko.PKey] | None:
    """The keys the server may present; None only when the user opted out of checking."""
    if config.host_key:
        return [parse_host_key(config.host_key)]
    known = _known_keys(config)
    if known:
        return known
    if config.skip_verify:
        log.warning("sftp: host key not verified (skip-verify)", extra={"host": config.host})
        return None
    raise ReplicaPermissionError(
        f"sftp: host key of {config.address} is unknown; refusing to connect",
        op="connect",
        hint=f"set host-key to a line of `ssh-keyscan -p {config.port} {config.host}`, "
        "or set skip-verify: true to connect without checking",
    )


def _key_types(keys: list[paramiko.PKey]) -> tuple[str, ...]:
    """Host key algorithms to offer, so the server presents a key we can compare."""
    types: list[str] = []
    for key in keys:
        name = key.get_name()
        for kind in _RSA_SIGNATURES if name == "ssh-rsa" else (name,):
            if kind not in types:
                types.append(kind)
    return tuple(types)


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _load_private_key(path: str) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"sftp: cannot read sftp key path {path}: file not found") from exc
    except PermissionError as exc:
        raise ConfigError(f"sftp: cannot read sftp key path {path}: permission denied") from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise ConfigError(f"sftp: cannot parse sftp key path {path}: {exc}") from exc


def _authenticate(transport: paramiko.Transport, config: SFTPConfig) -> None:
    """Public key first, then password; as Go, no agent and no default key files."""
    if not config.key_path and not config.password:
        raise ConfigError(
            f"sftp: no credentials for {config.user}@{config.address}",
            hint="set key-path or password",
        )
    try:
        if config.key_path:
            try:
                transport.auth_publickey(config.user, _load_private_key(config.key_path))
            except paramiko.AuthenticationException:
                if not config.password:
                    raise
        if not transport.is_authenticated() and config.password:
            transport.auth_password(config.user, config.password)
    except paramiko.AuthenticationException as exc:
        raise ReplicaPermissionError(
            f"sftp: authentication failed for {config.user}@{config.address}", op="connect"
        ) from exc


def open_session(config: SFTPConfig) -> Session:
    """Connect, verify the host key, log in and start SFTP; errors are core errors."""
    expected = _expected_keys(config)
    try:
        sock = socket.create_connection((config.host, config.port), timeout=config.timeout)
    except OSError as exc:
        raise TransientReplicaError(
            f"sftp: cannot connect to {config.address}: {exc.strerror or exc}", op="connect"
        ) from exc
    transport = paramiko.Transport(sock)
    try:
        if expected is not None:
            transport.get_security_options().key_types = _key_types(expected)
        transport.start_client(timeout=config.timeout)
        offered = transport.get_remote_server_key()
        if expected is not None and offered not in expected:
            raise ReplicaPermissionError(
                f"sftp: host key mismatch for {config.address}: server offered "
                f"{_fingerprint(offered)}, expected {_fingerprint(expected[0])}; refusing to "
                "connect",
                op="connect",
            )
        _authenticate(transport, config)
        transport.set_keepalive(KEEPALIVE_SECONDS)
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:
            raise TransientReplicaError(f"sftp: cannot open sftp channel on {config.address}")
        channel = sftp.get_channel()
        if channel is not None:
            channel.settimeout(config.timeout)
        return Session(transport, sftp)
    except (ConfigError, ReplicaPermissionError, TransientReplicaError):
        transport.close()
        raise
    except IncompatiblePeer as exc:
        transport.close()
        if expected is None:
            raise TransientReplicaError(f"sftp: cannot negotiate with {config.address}") from exc
        raise ReplicaPermissionError(
            f"sftp: host key mismatch for {config.address}: server has no key of type "
            f"{expected[0].get_name()}; refusing to connect",
            op="connect",
        ) from exc
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transport.close()
        raise TransientReplicaError(
            f"sftp: ssh handshake with {config.address} failed: {exc}", op="connect"
        ) from exc
