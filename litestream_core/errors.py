"""One exception hierarchy for the whole product.

Backends translate their SDK's errors into these classes so the engine can decide what
to do (retry, stop, tell the user) without knowing any SDK. Multiple inheritance from
the built-ins keeps ``except FileNotFoundError`` and ``except PermissionError`` working.
Every message is meant to be shown to a user as one line: say what is wrong and, where
possible, what to do (the ``hint``).
"""

from __future__ import annotations


class LitestreamError(Exception):
    """Base of every error the product raises on purpose."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def one_line(self) -> str:
        """The message a CLI prints: the error and, if known, what to do about it."""
        text = str(self).splitlines()[0] if str(self) else type(self).__name__
        return f"{text} ({self.hint})" if self.hint else text


def describe(exc: BaseException) -> str:
    """Any exception as the one line a user or a log sees.

    Our own errors speak for themselves; anything else (a bug, an OS error the engine
    did not expect) keeps its type name, since its message alone is often cryptic.
    """
    if isinstance(exc, LitestreamError):
        return exc.one_line()
    if isinstance(exc, OSError) and exc.strerror:
        # "No space left on device: /meta/ltx/0/x.ltx.tmp", not "OSError(28, ...)": the
        # OS's words are clear once the file is named beside them.
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        return f"{exc.strerror}: {' -> '.join(names)}" if names else exc.strerror
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class ConfigError(LitestreamError):
    """Bad YAML, an unknown key, a bad URL, a URL scheme no installed backend serves."""


class PluginError(LitestreamError):
    """A plugin could not be used."""


class PluginLoadError(PluginError):
    """Importing or registering a plugin failed; ``__cause__`` holds the original error."""

    def __init__(self, message: str, *, plugin_name: str, distribution: str | None) -> None:
        super().__init__(message)
        self.plugin_name = plugin_name
        self.distribution = distribution


class PluginConflictError(PluginError):
    """Two plugins claimed the same URL scheme or codec name."""


class PluginIncompatibleError(PluginError):
    """A plugin requires a litestream-core version other than the installed one."""


class DatabaseError(LitestreamError):
    """The SQLite database cannot be replicated as it is (not a database, not WAL, ...)."""


class LTXError(LitestreamError):
    """An LTX file is malformed or fails verification; its pages must not be used."""


class LTXFormatError(LTXError):
    """The bytes do not follow the LTX format (magic, sizes, varints, flags)."""


class ChecksumMismatchError(LTXError):
    """A file, page or database checksum does not match what was recorded."""


class EncryptionError(LitestreamError):
    """An encrypted replica cannot be read or written with the keys configured: no
    identity opens a file, a file is not encrypted where the replica is, ... Never
    carries key material."""


class DamagedCiphertextError(EncryptionError, LTXError):
    """An encrypted file fails authentication: altered or damaged, like a bad checksum."""


class RestoreError(LitestreamError):
    """A restore cannot reach the requested state; nothing was put in place."""


class ReplicaClientError(LitestreamError):
    """A replica storage operation failed. Carries where, so logs can say which file."""

    def __init__(
        self,
        message: str,
        *,
        op: str | None = None,
        url: str | None = None,
        level: int | None = None,
        min_txid: int | None = None,
        max_txid: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.op = op
        self.url = url
        self.level = level
        self.min_txid = min_txid
        self.max_txid = max_txid


class LTXNotFoundError(ReplicaClientError, FileNotFoundError):
    """The requested LTX file does not exist on the replica."""


class ReplicaPermissionError(ReplicaClientError, PermissionError):
    """The storage refused the credentials; retrying will not help."""


class TransientReplicaError(ReplicaClientError):
    """Throttling, timeouts, 5xx, dropped connections: the engine retries with backoff."""


class ObjectExistsError(ReplicaClientError, FileExistsError):
    """``create_exclusive`` found a file under that name already (someone else won)."""


class LeaseError(LitestreamError):
    """Base for failures of the replica lease (``engine.lease``)."""


class LeaseExistsError(LeaseError):
    """Another live replicator holds the replica's lease (``replicate -lease-fail``)."""


class LeaseNotHeldError(LeaseError):
    """This replicator cannot prove it holds the lease, so it must not write."""


class IdentityError(LitestreamError):
    """A replica's identity object exists but cannot be read."""


class ReplicaOwnedError(LitestreamError):
    """The replica belongs to another database; writing to it would mix two histories."""
