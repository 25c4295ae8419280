"""Litestream replica backend for Alibaba Cloud OSS (``oss://``)."""
