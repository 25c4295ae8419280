"""The ``-integrity-check`` modes and the one default the CLI and the API share.

Its own small module so both can name the default at import time without loading the
restore engine (``litestream --help`` and ``import litestream_core.api`` stay light).
"""

from __future__ import annotations

INTEGRITY_CHECKS = ("none", "quick", "full")
DEFAULT_INTEGRITY_CHECK = "quick"
"""The check ``litestream restore`` and ``api.restore`` run unless told otherwise
(pending the measurement of bench/integrity_check.py)."""
