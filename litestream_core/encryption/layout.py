"""Where things are in a sealed replica file, without any cryptography.

Backends import this to read the LTX timestamp a sealed file carries in clear, and
listings to report LTX sizes, so it stays free of heavy imports.
"""

from __future__ import annotations

INTRO = b"age-encryption.org/v1\n"
CHUNK_SIZE = 64 * 1024
"""Plain bytes per payload chunk (age's STREAM)."""
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
HEADER_SIZE = 1008
"""Bytes from the intro line through the MAC line, in every file we write."""
PAYLOAD_OFFSET = HEADER_SIZE + NONCE_SIZE
"""Where chunk 0 starts."""
MAX_RECIPIENTS = 9
"""X25519 recipients (98 bytes of header each) that fit HEADER_SIZE beside the rest."""
TIME_STANZA = b"-> litestream ltx1 "
"""The first stanza's opening: the LTX header's timestamp (ms) follows."""


def sealed_size(plain: int) -> int:
    """Stored size of a sealed file whose LTX file is ``plain`` bytes."""
    chunks = max(1, -(-plain // CHUNK_SIZE))
    return PAYLOAD_OFFSET + plain + chunks * TAG_SIZE


def plain_size(sealed: int) -> int:
    """The LTX file's size in a sealed file of ``sealed`` bytes (0 if none could be)."""
    payload = sealed - PAYLOAD_OFFSET
    if payload < TAG_SIZE:
        return 0
    return payload - -(-payload // SEALED_CHUNK_SIZE) * TAG_SIZE


def is_sealed(head: bytes) -> bool:
    """Whether the bytes start like an age file (at least its first 12 bytes)."""
    return len(head) >= 12 and INTRO.startswith(head[: len(INTRO)])


def sealed_timestamp(head: bytes) -> int | None:
    """The LTX timestamp a sealed file's first stanza carries, or None if it has none."""
    if not head.startswith(INTRO + TIME_STANZA):
        return None
    line = head[len(INTRO) + len(TIME_STANZA) :].split(b"\n", 1)
    if len(line) < 2 or not line[0].isdigit():
        return None
    return int(line[0])
