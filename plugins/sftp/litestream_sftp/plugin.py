"""Entry point of litestream-sftp. Registers nothing yet: the backend is not built."""
