"""Litestream replica backend: NATS JetStream object stores. Never imports the SDK."""
