"""What the ``replicate`` daemon serves beside the engine, as Go Litestream does.

The control socket (HTTP over a Unix socket, Go's endpoints and JSON bodies) with the
client the runtime commands use, heartbeat pings, and the MCP server. Nothing here is
imported unless the config or a command asks for it, so ``litestream --help`` and
plain replication never load an HTTP stack.
"""
