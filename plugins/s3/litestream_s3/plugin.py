"""Entry point of litestream-s3. Registers nothing yet: the backend is not built."""
