"""EncryptedReplicaClient: any backend's client, with every file sealed in age.

The engine, restore, verify, follow mode and the VFS all see plain LTX files: listings
report the LTX file's size, reads take LTX byte ranges and return LTX bytes, writes take
LTX bytes. Underneath, the backend stores and lists age files in the fixed layout of
``litestream_core.encryption.age``, so an LTX byte range maps to whole 64 KiB chunks of
the stored object without a lookup. Because the layer wraps the ReplicaClient contract,
every backend, third-party ones included, gets encryption without a line of its own,
and so does everything written through a client: L0 files, compactions, snapshots and
the replica identity object.

A file's key is unwrapped once and remembered (by level and TXID range), so a range
read after the first costs one storage request, as on a plain replica; a remembered key
that no longer opens a file (the file was replaced) is dropped and the header read again.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import ClassVar

from litestream_core.backend_support.parts import PartReader, header_of
from litestream_core.client import (
    AsyncByteStream,
    Capability,
    LegacyFileInfo,
    LTXData,
    LTXFileInfo,
    ReplicaClient,
    SupportsExclusiveCreate,
    SupportsLegacyLayout,
    SupportsTempCleanup,
)
from litestream_core.encryption.age import (
    HeaderTruncated,
    PayloadCipher,
    parse_header,
    seal_header,
    unwrap_file_key,
)
from litestream_core.encryption.keys import AgeKeys, Identity
from litestream_core.encryption.layout import (
    CHUNK_SIZE,
    HEADER_SIZE,
    NONCE_SIZE,
    PAYLOAD_OFFSET,
    SEALED_CHUNK_SIZE,
    is_sealed,
    plain_size,
)
from litestream_core.errors import (
    DamagedCiphertextError,
    EncryptionError,
    LTXFormatError,
    ReplicaClientError,
)
from litestream_core.ltx.header import MAGIC, format_filename

_KEY_CACHE = 4096
"""File keys remembered (about 200 bytes each)."""
_SMALL = 4 << 20
"""Plain bytes up to this size are sealed into one bytes object (one upload call)."""
_BATCH = 16
"""Chunks sealed or opened per storage call when there are that many (1 MiB)."""
_MAX_HEADER = 1 << 20
"""Longer age headers are refused rather than buffered."""

_Address = tuple[int, int, int]


class EncryptedReplicaClient(ReplicaClient):
    """Seals what it writes to ``keys.recipients`` and opens what it reads with
    ``keys.identities``; everything else is the wrapped client's."""

    type: ClassVar[str] = "age"

    def __init__(self, inner: ReplicaClient, keys: AgeKeys) -> None:
        self.inner = inner
        self.keys = keys
        # The backend's name and abilities are the replica's: shown by `ltx`, metrics.
        # Except a local filesystem: its files are sealed, so nothing may read or
        # write them around this client (restore's direct reads, compaction's links,
        # the monitor's direct upload).
        setattr(self, "type", inner.type)  # noqa: B010 - a ClassVar in the contract
        local = frozenset({Capability.LOCAL_FILESYSTEM})
        setattr(self, "capabilities", inner.capabilities - local)  # noqa: B010
        self._ciphers: OrderedDict[_Address, PayloadCipher] = OrderedDict()

    def __repr__(self) -> str:
        return f"EncryptedReplicaClient({self.inner!r}, {self.keys!r})"

    async def init(self) -> None:
        await self.inner.init()

    async def close(self) -> None:
        await self.inner.close()

    async def ltx_files(
        self, level: int, *, seek: int = 0, use_metadata: bool = False
    ) -> AsyncIterator[LTXFileInfo]:
        async for info in self.inner.ltx_files(level, seek=seek, use_metadata=use_metadata):
            yield replace(info, size=plain_size(info.size))

    async def delete_ltx_files(self, files: Sequence[LTXFileInfo]) -> None:
        for info in files:
            self._ciphers.pop((info.level, info.min_txid, info.max_txid), None)
        await self.inner.delete_ltx_files(files)

    async def delete_all(self) -> None:
        self._ciphers.clear()
        await self.inner.delete_all()

    async def remove_stale_temp_files(self) -> int:
        """The backend's sweep, if it has one (``SupportsTempCleanup``): temporary files
        are the backend's, sealed or not."""
        if isinstance(self.inner, SupportsTempCleanup):
            return await self.inner.remove_stale_temp_files()
        return 0

    # -- writing ----------------------------------------------------------------------

    async def create_exclusive(self, level: int, min_txid: int, max_txid: int, data: bytes) -> None:
        """The backend's atomic create of a sealed copy (the replica lease's objects
        are sealed like every other file, so the lease works on encrypted replicas)."""
        if not isinstance(self.inner, SupportsExclusiveCreate):
            raise ReplicaClientError(
                f"the {self.inner.type} backend has no atomic create", op="create"
            )
        self._check_writable()
        head, cipher = seal_header(self.keys.recipients, header_of(data).timestamp)
        chunks = [
            cipher.seal(i, data[at : at + CHUNK_SIZE], last=at + CHUNK_SIZE >= len(data))
            for i, at in enumerate(range(0, len(data), CHUNK_SIZE))
        ]
        await self.inner.create_exclusive(level, min_txid, max_txid, b"".join([head, *chunks]))
        self._remember((level, min_txid, max_txid), cipher)

    def _check_writable(self) -> None:
        if not self.keys.recipients:
            raise EncryptionError(
                "this replica has age identities but no recipients, so it cannot be written",
                hint="add `recipients:` to the replica's `age:` block",
            )

    async def write_ltx_file(
        self, level: int, min_txid: int, max_txid: int, data: LTXData
    ) -> LTXFileInfo:
        self._check_writable()
        reader = PartReader(data)
        batch = _BATCH * CHUNK_SIZE
        first = await reader.read(batch)
        ltx = header_of(first)  # only LTX files are sealed; the timestamp goes in clear
        head, cipher = seal_header(self.keys.recipients, ltx.timestamp)
        plain = 0

        async def sealed() -> AsyncIterator[bytes]:
            nonlocal plain
            yield head
            index, pending = 0, first
            while True:
                nxt = await reader.read(batch) if len(pending) == batch else b""
                parts = []
                for at in range(0, len(pending), CHUNK_SIZE):
                    last = not nxt and at + CHUNK_SIZE >= len(pending)
                    parts.append(cipher.seal(index, pending[at : at + CHUNK_SIZE], last=last))
                    index += 1
                yield b"".join(parts)
                plain += len(pending)
                if not nxt:
                    return
                pending = nxt

        body: LTXData = sealed()
        if isinstance(data, bytes | bytearray | memoryview) and len(data) <= _SMALL:
            body = b"".join([part async for part in sealed()])
        try:
            info = await self.inner.write_ltx_file(level, min_txid, max_txid, body)
        except LTXFormatError as exc:
            raise EncryptionError(
                f"the {self.inner.type} backend cannot store encrypted files: it refused one "
                f"({exc.one_line()})",
                hint="it must read file times with backend_support.timestamps.upload_timestamp;"
                " update the backend's plugin",
            ) from exc
        self._remember((level, min_txid, max_txid), cipher)
        return replace(info, size=plain)

    # -- reading ----------------------------------------------------------------------

    async def open_ltx_file(
        self, level: int, min_txid: int, max_txid: int, *, offset: int = 0, size: int = 0
    ) -> AsyncByteStream:
        address = (level, min_txid, max_txid)
        first = offset // CHUNK_SIZE
        end = None if size <= 0 else (offset + size - 1) // CHUNK_SIZE + 1
        span = 0 if end is None else (end - first) * SEALED_CHUNK_SIZE
        cipher = self._ciphers.get(address)
        refresh = None
        if cipher is not None:
            self._ciphers.move_to_end(address)
            refresh = functools.partial(self._reread_header, address)
        elif first == 0:
            # One request for the header and the chunks.
            stream = await self.inner.open_ltx_file(
                level, min_txid, max_txid, size=span and PAYLOAD_OFFSET + span
            )
            try:
                cipher = self._open_header(address, await _read_exact(stream, PAYLOAD_OFFSET))
            except BaseException:
                await stream.aclose()
                raise
            return _PlainStream(_where(address), stream, cipher, first, offset, size, end)
        else:
            cipher = await self._read_header(address)
        stream = await self.inner.open_ltx_file(
            level, min_txid, max_txid, offset=PAYLOAD_OFFSET + first * SEALED_CHUNK_SIZE, size=span
        )
        return _PlainStream(
            _where(address), stream, cipher, first, offset, size, end, refresh=refresh
        )

    async def _read_header(self, address: _Address) -> PayloadCipher:
        level, min_txid, max_txid = address
        stream = await self.inner.open_ltx_file(level, min_txid, max_txid, size=PAYLOAD_OFFSET)
        async with stream:
            return self._open_header(address, await _read_exact(stream, PAYLOAD_OFFSET))

    def _open_header(self, address: _Address, head: bytes) -> PayloadCipher:
        where = _where(address)
        if head.startswith(MAGIC):
            raise EncryptionError(
                f"{where} is not encrypted, but this replica is configured with age keys",
                hint="an encrypted replica needs a path of its own: plain and encrypted "
                "files are never mixed",
            )
        if not self.keys.identities:
            raise EncryptionError(
                f"{where} is encrypted and this replica has no age identity to open it",
                hint="add the replica's key to `identities:` in its `age:` block",
            )
        if not is_sealed(head):
            raise DamagedCiphertextError(f"{where} is not an age file")
        try:
            header = parse_header(head)
        except ValueError as exc:
            raise DamagedCiphertextError(f"{where}: unreadable age header ({exc})") from None
        if header.size != HEADER_SIZE:
            raise EncryptionError(
                f"{where} is an age file, but not in the replica layout (its header is "
                f"{header.size} bytes, not {HEADER_SIZE}); was it encrypted by hand?"
            )
        file_key = unwrap_file_key(header, self.keys.identities)
        if file_key is None:
            raise EncryptionError(
                f"no configured age identity opens {where} "
                f"({len(self.keys.identities)} identities tried)",
                hint="add the identity of a recipient this file was written to",
            )
        cipher = PayloadCipher(file_key, head[HEADER_SIZE:PAYLOAD_OFFSET])
        self._remember(address, cipher)
        return cipher

    def _remember(self, address: _Address, cipher: PayloadCipher) -> None:
        self._ciphers[address] = cipher
        self._ciphers.move_to_end(address)
        while len(self._ciphers) > _KEY_CACHE:
            self._ciphers.popitem(last=False)

    async def _reread_header(self, address: _Address) -> PayloadCipher:
        self._ciphers.pop(address, None)
        return await self._read_header(address)


class _PlainStream(AsyncByteStream):
    """An LTX byte range, decrypted from a stream of stored chunks.

    Reads fetch as many chunks as the caller asks bytes for (up to ``_BATCH``) in one
    storage read, plus one chunk ahead: only a following chunk shows that a full chunk
    is not the file's last, which its nonce must say.
    """

    def __init__(
        self,
        where: str,
        stream: AsyncByteStream,
        cipher: PayloadCipher,
        first: int = 0,
        offset: int = 0,
        size: int = 0,
        end: int | None = None,
        *,
        refresh: Callable[[], Awaitable[PayloadCipher]] | None = None,
        buffered: bytes = b"",
    ) -> None:
        """``refresh`` gives the file's cipher from its header again, for a cipher that
        was remembered (the file may have been replaced since); ``buffered`` holds
        stored bytes already read past the header."""
        self._where = where
        self._refresh = refresh
        self._stream = stream
        self._cipher = cipher
        self._index = first
        self._skip = offset - first * CHUNK_SIZE
        self._left = size if size > 0 else None
        self._ranged = end is not None
        self._raw = bytearray(buffered)
        self._eof = False
        self._buffer = b""
        self._done = False

    async def read(self, n: int = -1) -> bytes:
        while not self._buffer and not self._done:
            await self._decrypt(_BATCH if n < 0 else max(1, min(_BATCH, -(-n // CHUNK_SIZE))))
        if n < 0 or n >= len(self._buffer):
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    async def _decrypt(self, count: int) -> None:
        need = (count + 1) * SEALED_CHUNK_SIZE
        while len(self._raw) < need and not self._eof:
            got = await self._stream.read(need - len(self._raw))
            self._raw += got
            self._eof = not got
        parts: list[bytes] = []
        pos = 0
        while len(parts) < count and pos < len(self._raw):
            rest = len(self._raw) - pos
            last: bool | None = False
            if rest <= SEALED_CHUNK_SIZE:
                # Only at the end of what storage sent: a short chunk is the last; a
                # full one is too unless a range read stopped there.
                last = True if rest < SEALED_CHUNK_SIZE or not self._ranged else None
            sealed = bytes(self._raw[pos : pos + SEALED_CHUNK_SIZE])
            pos += len(sealed)
            plain, was_last = await self._open(sealed, last)
            self._index += 1
            parts.append(plain)
            if was_last:
                self._done = True
                break
        del self._raw[:pos]
        if not parts:
            self._done = True
        plain = b"".join(parts)
        if self._skip:
            plain, self._skip = plain[self._skip :], 0
        if self._left is not None:
            plain = plain[: self._left]
            self._left -= len(plain)
            self._done = self._done or self._left == 0
        self._buffer = plain

    async def _open(self, sealed: bytes, last: bool | None) -> tuple[bytes, bool]:
        try:
            return self._cipher.open(self._index, sealed, last=last)
        except DamagedCiphertextError as exc:
            if self._refresh is None:
                raise DamagedCiphertextError(f"{self._where}: {exc}") from None
        self._cipher, self._refresh = await self._refresh(), None
        return await self._open(sealed, last)

    async def aclose(self) -> None:
        await self._stream.aclose()


async def open_age_stream(
    stream: AsyncByteStream, identities: Sequence[Identity], where: str
) -> AsyncByteStream:
    """The plaintext of any age file read from its start, whatever its header's size
    (files the age tool or Go Litestream 0.3 wrote); ``where`` names it in errors."""
    data = bytearray()
    try:
        while True:
            try:
                header = parse_header(bytes(data))
                break
            except HeaderTruncated:
                chunk = await stream.read(4096)
                if not chunk or len(data) > _MAX_HEADER:
                    raise DamagedCiphertextError(f"{where}: age header truncated") from None
                data += chunk
            except ValueError as exc:
                if data.startswith(MAGIC) or not is_sealed(bytes(data)):
                    raise EncryptionError(f"{where} is not encrypted") from None
                raise DamagedCiphertextError(f"{where}: unreadable age header ({exc})") from None
        payload = header.size + NONCE_SIZE
        while len(data) < payload and (chunk := await stream.read(payload - len(data))):
            data += chunk
        file_key = unwrap_file_key(header, identities)
        if file_key is None:
            raise EncryptionError(
                f"no configured age identity opens {where} ({len(identities)} identities tried)",
                hint="add the identity of a recipient this file was written to",
            )
    except BaseException:
        await stream.aclose()
        raise
    cipher = PayloadCipher(file_key, bytes(data[header.size : payload]))
    return _PlainStream(where, stream, cipher, buffered=bytes(data[payload:]))


class _EncryptedLegacyClient(EncryptedReplicaClient):
    """An encrypted replica whose backend also reads Go 0.3's ``generations/`` layout.

    Go 0.3 with ``age:`` compressed each snapshot and WAL segment with LZ4, then
    encrypted the whole stream with age (headers of any size, read from the start), so
    a v0.3 file here is opened as a stream and handed on still LZ4-framed, as the
    ``SupportsLegacyLayout`` contract promises.
    """

    async def legacy_files(self) -> list[LegacyFileInfo]:
        assert isinstance(self.inner, SupportsLegacyLayout)
        return await self.inner.legacy_files()

    async def open_legacy_file(self, path: str) -> AsyncByteStream:
        assert isinstance(self.inner, SupportsLegacyLayout)
        stream = await self.inner.open_legacy_file(path)
        return await open_age_stream(stream, self.keys.identities, f"v0.3 file {path}")


def sealed_client(inner: ReplicaClient, keys: AgeKeys) -> EncryptedReplicaClient:
    """``inner`` with its files sealed, reading Go 0.3's encrypted backups too when the
    backend reads that layout (the legacy protocol is found by ``isinstance``, so only
    such a backend's wrapper offers it)."""
    if isinstance(inner, SupportsLegacyLayout):
        return _EncryptedLegacyClient(inner, keys)
    return EncryptedReplicaClient(inner, keys)


def _where(address: _Address) -> str:
    level, min_txid, max_txid = address
    return f"replica file {format_filename(min_txid, max_txid)} at level {level}"


async def _read_exact(stream: AsyncByteStream, n: int) -> bytes:
    """``n`` bytes, fewer only at the end of the stream."""
    parts: list[bytes] = []
    got = 0
    while got < n and (chunk := await stream.read(n - got)):
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
