"""Entry point of litestream-gcs. Registers nothing yet: the backend is not built."""
