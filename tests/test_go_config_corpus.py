"""A corpus of Go configs run by both tools: every config Go 0.5.17 starts, ours starts.

File replicas here; each backend's own keys are in its plugin's tests
(``test_go_config_corpus.py`` there), against its local server. Each entry uses every
key of one part of Go's reference (A2 top level, A3 database, A4 replica), a config
written for an earlier Go release, or an edge of Go's rules.
"""

from __future__ import annotations

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both

DB = "dbs:\n  - path: {data}/app.db\n    replica:\n      path: {replica}\n"

ONCE = {
    # A2: every top-level key (exec only in a daemon run below).
    "top-level": """
addr: 127.0.0.1:{port}
logging:
  level: debug
  type: json
  stderr: true
  source: true
levels:
  - interval: 10s
  - interval: 1m
snapshot:
  interval: 1h
  retention: 2h
l0-retention: 1m
l0-retention-check-interval: 5s
retention:
  enabled: false
verify-compaction: true
validation:
  interval: 1m
heartbeat-url: http://127.0.0.1:9/ping
heartbeat-interval: 2m
mcp-addr: 127.0.0.1:{port}
socket:
  enabled: true
  path: {work}/control.sock
  permissions: 0600
shutdown-sync-timeout: 5s
shutdown-sync-interval: 100ms
sync-interval: 2s
max-sync-ltx-files: 10
auto-recover: true
""" + DB,
    # A3: every key of a path entry, and the replica keys of A4.
    "database": """
dbs:
  - path: {data}/app.db
    meta-path: {work}/meta
    monitor-interval: 500ms
    checkpoint-interval: 2m
    busy-timeout: 2s
    min-checkpoint-page-count: 500
    truncate-page-n: 10000
    max-sync-wal-bytes: 33554432
    restore-if-db-not-exists: true
    snapshot:
      interval: 12h
      retention: 48h
    replica:
      type: file
      path: {replica}
      sync-interval: 500ms
      max-sync-ltx-files: 0
      auto-recover: false
      validation-interval: 1h
      name: main
""",
    "replica-url": "dbs:\n  - path: sqlite://{data}/app.db\n    replica:\n      url: file://{replica}\n",
    "deprecated-replicas-list": "dbs:\n  - path: {data}/app.db\n    replicas:\n"
                                "      - path: {replica}\n",
    "env-expansion": "dbs:\n  - path: {data}/app.db\n    monitor-interval: ${LS_MONITOR}\n"
                     "    meta-path: {work}/meta-$PID\n"
                     "    replica:\n      path: {replica}$LS_UNSET\n"
                     "      sync-interval: $LS_SYNC\n",
    "empty-dbs": "dbs: []\n",
    "no-dbs-key": "logging:\n  level: info\n",
    "per-db-snapshot-agreeing": """
dbs:
  - path: {data}/app.db
    snapshot:
      interval: 6h
    replica:
      path: {replica}/a
  - path: {data}/b.db
    snapshot:
      interval: 6h
      retention: 12h
    replica:
      path: {replica}/b
""",
    # A3/A11: directory entries.
    "dir": """
dbs:
  - dir: {data}
    pattern: "*.db"
    recursive: true
    watch: true
    meta-dir: {work}/meta
    monitor-interval: 1s
    replica:
      url: file://{replica}
""",
    "dir-meta-path": "dbs:\n  - dir: {data}\n    pattern: '*.db'\n    meta-path: {work}/meta\n"
                     "    replica:\n      path: {replica}\n",
    # Configs written for Go v0.3 and v0.4, and keys that never shipped.
    "v0.3": """
addr: ""
access-key-id: ""
secret-access-key: ""
dbs:
  - path: {data}/app.db
    monitor-interval: 1s
    checkpoint-interval: 1m
    min-checkpoint-page-count: 1000
    max-checkpoint-page-count: 10000
    replicas:
      - name: local
        type: file
        path: {replica}
        retention: 24h
        retention-check-interval: 1h
        snapshot-interval: 1h
        validation-interval: 6h
        sync-interval: 1s
""",
    "v0.4": """
dbs:
  - path: {data}/app.db
    monitor-delay-interval: 10ms
    shadow-retention-count: 32
    replicas:
      - path: {replica}
        upstream: none
""",
    "v0.5.0": """
skip-remote-deletion: true
dbs:
  - path: {data}/app.db
    max-checkpoint-page-count: 5000
    replica:
      path: {replica}
""",
}  # fmt: skip

DAEMON = {
    "exec": "exec: sleep 30\n" + DB,
    "empty-dbs-daemon": "dbs: []\n",
    "watched-dir": "dbs:\n  - dir: {data}\n    pattern: '*.db'\n    watch: true\n"
                   "    replica:\n      path: {replica}\n",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ONCE))
def test_once(name, go_litestream, tmp_path, monkeypatch):
    monkeypatch.setenv("LS_MONITOR", "250ms")
    monkeypatch.setenv("LS_SYNC", "2s")
    monkeypatch.delenv("LS_UNSET", raising=False)
    go, ours = run_both(go_litestream, ONCE[name], tmp_path, databases=("app.db", "b.db"))
    assert go.started, f"Go should start the corpus entry {name}\n{go}"
    assert_starts_like_go(go, ours, name)
    # Keys of earlier releases: Go says nothing; we name each in one warning.
    warnings = [line for line in ours.output.splitlines() if "earlier Go releases" in line]
    ignored = IGNORED.get(name, [])
    assert len(warnings) == (1 if ignored else 0), ours
    for key in ignored:
        assert warnings[0].count(f"'{key}' (") == 1, (key, warnings[0])
    if name == "env-expansion":  # $PID is the replicator's process id, in Go and here
        for tool in ("go", "ours"):
            metas = [p.name for p in (tmp_path / tool).glob("meta-*")]
            assert len(metas) == 1 and metas[0].removeprefix("meta-").isdigit(), (tool, metas)
    retention_off = [line for line in ours.output.splitlines() if "retention disabled" in line]
    assert len(retention_off) == (1 if "enabled: false" in ONCE[name] else 0), ours


IGNORED = {
    "database": ["name", "validation-interval"],
    "v0.3": ["max-checkpoint-page-count", "name", "retention", "retention-check-interval",
             "snapshot-interval", "validation-interval"],
    "v0.4": ["monitor-delay-interval", "shadow-retention-count", "upstream"],
    "v0.5.0": ["skip-remote-deletion", "max-checkpoint-page-count"],
}  # fmt: skip
"""Each corpus entry's keys that Go 0.5.17 ignores, named in our one warning."""


@pytest.mark.parametrize("name", sorted(DAEMON))
def test_daemon(name, go_litestream, tmp_path):
    go, ours = run_both(go_litestream, DAEMON[name], tmp_path, once=False)
    assert go.started and go.code == 0, f"Go should start the corpus entry {name}\n{go}"
    assert_starts_like_go(go, ours, name)
    # With exec we exit with the application's code (here: killed by the forwarded
    # SIGTERM), where Go exits 0: a documented difference.
    assert ours.code == (128 + 15 if name == "exec" else 0), ours


REFUSED_BY_GO = {
    "path-and-dir": "dbs:\n  - path: {data}/app.db\n    dir: {data}\n    pattern: '*'\n",
    "dir-without-pattern": "dbs:\n  - dir: {data}\n    replica:\n      path: {replica}\n",
    "two-replicas": "dbs:\n  - path: {data}/app.db\n    replicas:\n      - path: {replica}/a\n"
                    "      - path: {replica}/b\n",
    "conflicting-snapshots": "dbs:\n  - path: {data}/app.db\n    snapshot:\n      interval: 1h\n"
                             "    replica:\n      path: {replica}/a\n"
                             "  - path: {data}/b.db\n    snapshot:\n      interval: 2h\n"
                             "    replica:\n      path: {replica}/b\n",
    "retention-duration": "retention: 24h\n" + DB,
    "age": "age:\n  identities: [x]\n" + DB,
    "heartbeat-too-often": "heartbeat-url: http://127.0.0.1:9/\nheartbeat-interval: 10s\n" + DB,
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFUSED_BY_GO))
def test_what_go_refuses_we_refuse(name, go_litestream, tmp_path):
    """Not required (we may be stricter), but each of these is a mistake Go names."""
    go, ours = run_both(go_litestream, REFUSED_BY_GO[name], tmp_path, databases=("app.db", "b.db"))
    assert not go.started, f"Go refuses {name}\n{go}"
    assert not ours.started, f"{name}\n{ours}"
    assert "Traceback" not in ours.output and "Error:" in ours.output
