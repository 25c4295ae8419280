"""age X25519 keys: recipients (``age1...``) and identities (``AGE-SECRET-KEY-1...``).

Both are Bech32 strings around 32 raw bytes, as ``age-keygen`` prints them. The key
material never leaves these objects as text: their ``repr`` shows only the public
side, and every parse error names where the bad key came from (its position in the
config, a file and line), never the text itself, because a secret key pasted into the
wrong list would otherwise end up in a log.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bech32 import bech32_decode, bech32_encode, convertbits
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from litestream_core.encryption.layout import MAX_RECIPIENTS
from litestream_core.errors import ConfigError

if TYPE_CHECKING:
    from litestream_core.encryption.settings import AgeSettings

RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"


def _decode(text: str, hrp: str) -> bytes | None:
    found, data = bech32_decode(text)
    if found != hrp or data is None:
        return None
    raw = convertbits(data, 5, 8, False)
    return bytes(raw) if raw is not None and len(raw) == 32 else None


def _encode(hrp: str, raw: bytes) -> str:
    data = convertbits(raw, 8, 5, True)
    assert data is not None
    return bech32_encode(hrp, data)


@dataclass(frozen=True)
class Recipient:
    """An X25519 public key files are encrypted to."""

    public: bytes

    @classmethod
    def parse(cls, text: str) -> Recipient | None:
        """The recipient in ``age1...`` text, or None if it is not one."""
        text = text.strip()
        raw = _decode(text, RECIPIENT_HRP) if text.startswith("age1") else None
        return cls(raw) if raw is not None else None

    def __str__(self) -> str:
        return _encode(RECIPIENT_HRP, self.public)


@dataclass(frozen=True)
class Identity:
    """An X25519 private key that opens files encrypted to its recipient."""

    private: X25519PrivateKey = field(repr=False, compare=False)
    recipient: Recipient

    @classmethod
    def generate(cls) -> Identity:
        return cls.from_private_bytes(X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> Identity:
        key = X25519PrivateKey.from_private_bytes(raw)
        return cls(key, Recipient(key.public_key().public_bytes_raw()))

    @classmethod
    def parse(cls, text: str) -> Identity | None:
        """The identity in ``AGE-SECRET-KEY-1...`` text, or None if it is not one."""
        text = text.strip()
        if not text.upper().startswith("AGE-SECRET-KEY-1"):
            return None
        raw = _decode(text, IDENTITY_HRP)
        return cls.from_private_bytes(raw) if raw is not None else None

    def secret_text(self) -> str:
        """The ``AGE-SECRET-KEY-1...`` form (for writing a key file; never log it)."""
        return _encode(IDENTITY_HRP, self.private.private_bytes_raw()).upper()

    def shared_secret(self, share: bytes) -> bytes | None:
        """X25519 with a file's ephemeral share; None for a share that yields zero."""
        try:
            return self.private.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:
            return None


@dataclass(frozen=True)
class AgeKeys:
    """A replica's ``age:`` block, parsed: whom new files are for, and what opens files."""

    recipients: tuple[Recipient, ...] = ()
    identities: tuple[Identity, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"AgeKeys(recipients={len(self.recipients)}, identities={len(self.identities)})"

    def secrets(self) -> list[str]:
        """The identities' text, both cases, for redacting log lines that might hold it."""
        texts = [i.secret_text() for i in self.identities]
        return texts + [t.lower() for t in texts]

    def can_read_own_files(self) -> bool:
        """Whether some identity opens files written to the current recipients."""
        mine = {i.recipient for i in self.identities}
        return any(r in mine for r in self.recipients)


def parse_recipients(entries: Sequence[object], where: str) -> tuple[Recipient, ...]:
    """Each entry is a recipient (``age1...``), several on their own lines (comments
    with ``#``), or the path of a file holding such lines (as ``age -R`` reads)."""
    found: list[Recipient] = []
    for label, line in _key_lines(entries, f"{where}.recipients"):
        recipient = Recipient.parse(line)
        if recipient is None:
            what = (
                "is a secret key (AGE-SECRET-KEY-1...); recipients take public keys (age1...)"
                if Identity.parse(line) is not None
                else "is not an age X25519 recipient (age1...)"
            )
            raise ConfigError(f"{label} {what}")
        found.append(recipient)
    return tuple(dict.fromkeys(found))


def parse_identities(entries: Sequence[object], where: str) -> tuple[Identity, ...]:
    """Each entry is an identity (``AGE-SECRET-KEY-1...``), an identity file's text
    (as ``age-keygen`` writes it: ``#`` comments, one key a line), or that file's path."""
    found: list[Identity] = []
    for label, line in _key_lines(entries, f"{where}.identities"):
        identity = Identity.parse(line)
        if identity is None:
            raise ConfigError(
                f"{label} is not an age X25519 identity (AGE-SECRET-KEY-1...)",
                hint="SSH keys and age plugins are not supported",
            )
        found.append(identity)
    unique = {i.recipient: i for i in found}
    return tuple(unique.values())


def _is_inline(text: str) -> bool:
    """Key text, not a path: a key (public or secret, so a key in the wrong list is
    named as such, never echoed as a missing file), comments, or several lines."""
    return text.lower().startswith(("age1", "age-secret-key-", "#")) or "\n" in text


def _key_lines(entries: Sequence[object], where: str) -> Iterable[tuple[str, str]]:
    """Every key line of a list's entries, each with where it came from."""
    for i, entry in enumerate(entries):
        yield from _lines(entry, f"{where}[{i}]")


def _lines(entry: object, label: str) -> Iterable[tuple[str, str]]:
    """The key lines of one entry, each with where it came from, comments dropped."""
    if not isinstance(entry, str) or not entry.strip():
        raise ConfigError(f"{label} must be a key or a file path")
    text = entry.strip()
    if _is_inline(text):
        source, body = label, text
    else:
        path = Path(os.path.expanduser(text))
        try:
            body = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{label}: key file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise ConfigError(f"{label}: cannot read key file {path}: {reason}") from None
        source = f"{label} ({path})"
    keys = [
        (n, line.strip())
        for n, line in enumerate(body.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#")
    ]
    if not keys:
        raise ConfigError(f"{source} holds no key")
    for n, line in keys:
        yield (f"{source} line {n}" if len(keys) > 1 or source != label else source), line


def age_keys(settings: AgeSettings, where: str) -> AgeKeys:
    """A replica's ``age:`` block, its shape already checked; ConfigError (never
    showing a key) if an entry is not a key or a readable key file.

    Replication reads its own files back (its position at start, compaction, the
    replica identity), so recipients without an identity for one of them are refused.
    """
    keys = AgeKeys(
        recipients=parse_recipients(settings.recipients, where),
        identities=parse_identities(settings.identities, where),
    )
    if not keys.recipients and not keys.identities:
        raise ConfigError(f"{where}: no recipients or identities given")
    if len(keys.recipients) > MAX_RECIPIENTS:
        raise ConfigError(f"{where}.recipients: at most {MAX_RECIPIENTS} recipients")
    if keys.recipients and not keys.can_read_own_files():
        raise ConfigError(
            f"{where}: no identity opens files written to the recipients",
            hint="replication reads its own files back (compaction, its position), so "
            "`identities:` must hold the key of one of the `recipients:`",
        )
    return keys
