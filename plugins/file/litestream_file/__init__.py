"""Litestream replica backend: local filesystem. Importing this never imports the SDK."""
