"""Litestream replica backend for Google Cloud Storage (scheme ``gs``).

Importing this package never imports google-cloud-storage: the SDK loads when a client
is made.
"""
