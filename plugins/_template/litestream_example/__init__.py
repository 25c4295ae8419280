"""Litestream replica backend for Example storage (``example://host:port/path``)."""
