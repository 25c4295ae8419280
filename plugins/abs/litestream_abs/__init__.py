"""Litestream replica backend: Azure Blob Storage. Importing this never imports the SDK."""
