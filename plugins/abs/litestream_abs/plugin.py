"""Entry point of litestream-abs. Registers nothing yet: the backend is not built."""
