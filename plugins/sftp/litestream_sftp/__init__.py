"""Litestream replica backend: SFTP servers. Importing this never imports the SDK."""
