"""Fixtures shared by the core's tests.

``go_litestream`` (the Go Litestream 0.5.17 binary, the interop peer; a missing peer is
a failure, not a skip) and ``go_env`` come from the ``litestream`` pytest plugin
(litestream_core.testing.pytest_plugin), which backend tests use too.
"""
