"""The ``-integrity-check`` modes and the one default the CLI and the API share.

Its own small module so both can name the default at import time without loading the
restore engine (``litestream --help`` and ``import litestream_core.api`` stay light).
"""

from __future__ import annotations

INTEGRITY_CHECKS = ("none", "quick", "full")
DEFAULT_INTEGRITY_CHECK = "none"
"""The check ``litestream restore`` and ``api.restore`` run unless told otherwise: none,
as in Go. Measured on a 1 GiB database (``bench/integrity_check.py``, results in
bench/README.md), ``quick_check`` costs a fifth of the restore's own time (12-40% over
five rounds) and ``integrity_check`` about as much as the restore: more than the tenth
that would have made ``quick`` the default. The chain checks (``continuity.py``) run
on every restore regardless."""
