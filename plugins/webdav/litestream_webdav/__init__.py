"""Litestream replica backend for WebDAV servers (``webdav://`` and ``webdavs://``)."""
