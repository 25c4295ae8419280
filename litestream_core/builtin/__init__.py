"""Plugins the core registers on every plugin manager, before any entry point.

They use the same hooks as third-party plugins, so the core gets no special path.
"""
