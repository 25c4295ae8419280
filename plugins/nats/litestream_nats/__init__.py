"""Litestream replica backend: NATS JetStream object stores. Importing this never imports the SDK."""
