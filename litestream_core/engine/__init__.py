"""The replication engine: database monitor, replica uploads, compaction and restore.

Modules are imported by what needs them (``engine.db``, ``engine.replica``,
``engine.restore``, ``engine.store``); this package imports nothing itself, so a
CLI command or a plugin that needs one piece never pays for the rest.
"""
