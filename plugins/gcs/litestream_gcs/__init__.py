"""Litestream replica backend: Google Cloud Storage. Importing this never imports the SDK."""
