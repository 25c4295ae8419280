"""Litestream replica backend for Azure Blob Storage (scheme ``abs``).

Importing this package never imports the Azure SDK: it loads when a client is made.
"""
