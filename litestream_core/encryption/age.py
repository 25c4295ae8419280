"""The age v1 file format (https://age-encryption.org/v1), in the layout replicas use.

Every sealed file is a plain age file that ``age -d`` opens, with two choices age
leaves to the writer fixed so that a byte range of the LTX file maps to a byte range of
the stored object without reading anything first (``docs/encryption.md``):

* the header is always ``HEADER_SIZE`` bytes (padded with a ``litestream-pad``
  stanza, which age implementations skip like any stanza they do not know), so the
  payload always starts at ``PAYLOAD_OFFSET``;
* its first stanza, ``-> litestream ltx1 <ms>``, carries the LTX header's timestamp,
  which backends store as the file's time (as they do for plain files), and which
  storage metadata shows anyway.

The payload is age's STREAM: 64 KiB chunks, each sealed with ChaCha20-Poly1305 under
a nonce made of the chunk's index and a last-chunk flag. The primitives come from
``cryptography``; this module only arranges them as the specification says.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from litestream_core.encryption.keys import Identity, Recipient
from litestream_core.encryption.layout import (
    HEADER_SIZE,
    INTRO,
    MAX_RECIPIENTS,
    NONCE_SIZE,
    TIME_STANZA,
)
from litestream_core.errors import DamagedCiphertextError, EncryptionError

_FILE_KEY_SIZE = 16
_X25519_LABEL = b"age-encryption.org/v1/X25519"
_PAD_STANZA = b"-> litestream-pad\n"
_X25519_STANZA_SIZE = 98
_MAC_LINE_SIZE = 48  # "--- " + 43 base64 characters + "\n"
_BODY_LINE = 64  # base64 columns per full body line
_ZERO_NONCE = bytes(12)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    """Strict unpadded base64, as age requires (no padding, no stray bits)."""
    if b"=" in text or len(text) % 4 == 1:
        raise ValueError("bad base64")
    data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    if _b64(data) != text:
        raise ValueError("non-canonical base64")
    return data


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _body(data: bytes) -> bytes:
    """A stanza body: base64 in 64-column lines, always ending with a short line."""
    text = _b64(data)
    lines = [text[i : i + _BODY_LINE] for i in range(0, len(text), _BODY_LINE)]
    if not lines or len(lines[-1]) == _BODY_LINE:
        lines.append(b"")
    return b"".join(line + b"\n" for line in lines)


def _body_size(n: int) -> int:
    return len(_body(bytes(n)))


def _padding(room: int) -> tuple[int, int] | None:
    """Zero-byte counts for the time stanza's body and the pad stanza's body whose
    encoded sizes add up to ``room`` exactly (some sizes no single body can take)."""
    for tail in (0, 1, 2):
        rest = room - _body_size(tail)
        n = max(0, rest * 48 // 65 - 48)  # 48 bytes per 65-byte line: a lower bound
        while _body_size(n) < rest:
            n += 1
        if _body_size(n) == rest:
            return n, tail
    return None


def _room(recipients: int, timestamp_ms: int) -> int:
    fixed = len(INTRO) + len(TIME_STANZA) + len(str(timestamp_ms)) + 1 + len(_PAD_STANZA)
    return HEADER_SIZE - fixed - recipients * _X25519_STANZA_SIZE - _MAC_LINE_SIZE


# -- Writing ------------------------------------------------------------------------


def _x25519_stanza(recipient: Recipient, file_key: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.public))
    wrap_key = _hkdf(shared, share + recipient.public, _X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
    stanza = b"-> X25519 " + _b64(share) + b"\n" + _body(body)
    assert len(stanza) == _X25519_STANZA_SIZE
    return stanza


def seal_header(recipients: Sequence[Recipient], timestamp_ms: int) -> tuple[bytes, PayloadCipher]:
    """A new file's first ``PAYLOAD_OFFSET`` bytes (header and payload nonce) and the
    cipher for its chunks; a fresh file key each time."""
    if not recipients:
        raise EncryptionError("age: no recipients to encrypt to")
    fits = _padding(_room(len(recipients), timestamp_ms))
    if fits is None:
        raise EncryptionError(
            f"age: {len(recipients)} recipients do not fit the fixed-size header "
            f"(at most {MAX_RECIPIENTS})"
        )
    pad_time, pad_tail = fits
    file_key = secrets.token_bytes(_FILE_KEY_SIZE)
    parts = [INTRO, TIME_STANZA, str(timestamp_ms).encode(), b"\n", _body(bytes(pad_time))]
    parts += [_x25519_stanza(r, file_key) for r in recipients]
    parts += [_PAD_STANZA, _body(bytes(pad_tail)), b"---"]
    head = b"".join(parts)
    mac = hmac.new(_hkdf(file_key, b"", b"header"), head, sha256).digest()
    head += b" " + _b64(mac) + b"\n"
    assert len(head) == HEADER_SIZE
    nonce = os.urandom(NONCE_SIZE)
    return head + nonce, PayloadCipher(file_key, nonce)


# -- Reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class Stanza:
    type: bytes
    args: tuple[bytes, ...]
    body: bytes


@dataclass(frozen=True)
class ParsedHeader:
    stanzas: tuple[Stanza, ...]
    mac: bytes
    signed: bytes
    """The header bytes the MAC covers (through ``---``)."""
    size: int
    """Bytes from the start of the file to the end of the MAC line."""


class HeaderTruncated(ValueError):
    """The data ends inside the header: read more, or the file is cut short."""


def parse_header(data: bytes) -> ParsedHeader:
    """An age header at the start of ``data``; ValueError if it is not one
    (HeaderTruncated if ``data`` stops before the header does)."""
    if not data.startswith(INTRO):
        if INTRO.startswith(data):
            raise HeaderTruncated("age header truncated")
        raise ValueError("not an age file")
    pos = len(INTRO)
    stanzas: list[Stanza] = []

    def line() -> bytes:
        nonlocal pos
        end = data.find(b"\n", pos)
        if end < 0:
            raise HeaderTruncated("age header truncated")
        text, pos = data[pos:end], end + 1
        return text

    while True:
        start = pos
        text = line()
        if text.startswith(b"---"):
            parts = text.split(b" ")
            if parts[0] != b"---" or len(parts) != 2:
                raise ValueError("malformed age header MAC line")
            mac = _unb64(parts[1])
            if len(mac) != 32:
                raise ValueError("malformed age header MAC")
            return ParsedHeader(tuple(stanzas), mac, data[: start + 3], pos)
        parts = text.split(b" ")
        if parts[0] != b"->" or len(parts) < 2 or not all(_valid_arg(a) for a in parts[1:]):
            raise ValueError("malformed age stanza")
        body = b""
        while True:
            chunk = line()
            if len(chunk) > _BODY_LINE:
                raise ValueError("malformed age stanza body")
            body += _unb64(chunk)
            if len(chunk) < _BODY_LINE:
                break
        stanzas.append(Stanza(parts[1], tuple(parts[2:]), body))


def _valid_arg(arg: bytes) -> bool:
    return bool(arg) and all(33 <= c <= 126 for c in arg)


def unwrap_file_key(header: ParsedHeader, identities: Sequence[Identity]) -> bytes | None:
    """The file key, from the first X25519 stanza one of the identities opens, with
    the header MAC checked; None if no identity opens any stanza."""
    for stanza in header.stanzas:
        if stanza.type != b"X25519" or len(stanza.args) != 1 or len(stanza.body) != 32:
            continue
        try:
            share = _unb64(stanza.args[0])
        except ValueError:
            continue
        if len(share) != 32:
            continue
        for identity in identities:
            shared = identity.shared_secret(share)
            if shared is None:
                continue
            wrap_key = _hkdf(shared, share + identity.recipient.public, _X25519_LABEL)
            try:
                file_key = ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, stanza.body, None)
            except InvalidTag:
                continue
            expected = hmac.new(_hkdf(file_key, b"", b"header"), header.signed, sha256).digest()
            if not hmac.compare_digest(expected, header.mac):
                raise DamagedCiphertextError(
                    "age header MAC does not match: the header was altered"
                )
            return file_key
    return None


class PayloadCipher:
    """Seals and opens one file's payload chunks (age's STREAM construction)."""

    def __init__(self, file_key: bytes, nonce: bytes) -> None:
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))

    @staticmethod
    def _nonce(index: int, last: bool) -> bytes:
        return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")

    def seal(self, index: int, chunk: bytes, *, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), chunk, None)

    def open(self, index: int, sealed: bytes, *, last: bool | None) -> tuple[bytes, bool]:
        """The chunk's plaintext and whether it is the file's last chunk.

        ``last`` None means unknown (a full chunk at the end of a range read): the tag
        verifies under exactly one of the two nonces, so both are tried.
        """
        for flag in (False, True) if last is None else (last,):
            try:
                return self._aead.decrypt(self._nonce(index, flag), sealed, None), flag
            except InvalidTag:
                continue
        raise DamagedCiphertextError(f"encrypted chunk {index} fails authentication")
