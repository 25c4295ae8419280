"""The version of every distribution in this repository, written by ``scripts/set-version``.

A constant rather than an ``importlib.metadata`` lookup: that import alone costs more
than the rest of ``litestream version``. ``tests/test_packaging.py`` keeps it equal to
the version in ``pyproject.toml``, and the wheel test to the installed metadata.
"""

__version__ = "0.1.0"
