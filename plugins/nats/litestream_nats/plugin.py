"""Entry point of litestream-nats. Registers nothing yet: the backend is not built."""
