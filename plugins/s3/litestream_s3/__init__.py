"""Litestream replica backend for Amazon S3 and S3-compatible stores.

Importing this package never imports boto3: the SDK loads when a client is made.
"""
