"""A replica's ``age:`` block, declared like every other config section.

Declared with ``litestream_core.settings`` so the config parser checks its keys and
their types (a typo or a scalar where a list belongs names the key, line and column)
and the identities count as secrets. Only the shape is checked here: whether each
entry is a key, key-file text or a readable key file is ``keys.age_keys``'s business,
which needs the ``age`` extra.
"""

from __future__ import annotations

from typing import Annotated

from litestream_core.settings import Setting, Settings


class AgeSettings(Settings):
    """Go v0.3's ``age:`` keys: lists, as Go v0.3 read them."""

    _label = "age"

    recipients: Annotated[
        tuple[str, ...],
        Setting("public keys (age1...) or recipient files new files are encrypted to"),
    ] = ()
    identities: Annotated[
        tuple[str, ...],
        Setting(
            "secret keys (AGE-SECRET-KEY-1...), key-file text or key-file paths that "
            "open the replica's files",
            secret=True,
        ),
    ] = ()
