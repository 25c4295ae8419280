"""Litestream replica backend: Amazon S3 and S3-compatible stores. Importing this never imports the SDK."""
