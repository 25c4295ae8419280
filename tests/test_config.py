"""Go Litestream's YAML config: keys, expansion, durations and one-line errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from litestream_core.config import expand_env, load_config, parse_config, parse_duration
from litestream_core.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), ("1h", 3600.0), ("1.5s", 1.5),
     ("0", 0.0), (0, 0.0), ("-2s", -2.0), ("100us", 1e-4), ("2h45m", 9900.0)],
)  # fmt: skip
def test_durations_as_go(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1", 5, "1 s", "s", "1d", "", "1s2", True])
def test_bad_durations(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_env_expansion_like_go_os_expand():
    env = {"A": "x", "B_2": "y"}
    assert expand_env("$A ${B_2} $MISSING-${A}", env) == "x y -x"
    assert expand_env("cost: 5$ and $ alone", env) == "cost: 5$ and $ alone"
    assert expand_env("$PID", {}) == str(os.getpid())


def test_full_config(tmp_path, monkeypatch):
    monkeypatch.setenv("BUCKET_PATH", "backups/app")
    text = f"""
access-key-id: KEY
sync-interval: 5s
shutdown-sync-timeout: 10s
shutdown-sync-interval: 100ms
levels:
  - interval: 10s
  - interval: 1m
snapshot:
  interval: 1h
  retention: 2h
l0-retention: 1m
logging:
  level: debug
exec: myapp --serve
dbs:
  - path: {tmp_path}/app.db
    meta-path: {tmp_path}/meta
    monitor-interval: 100ms
    checkpoint-interval: 0
    min-checkpoint-page-count: 500
    truncate-page-n: 9000
    busy-timeout: 2s
    replica:
      type: s3
      bucket: my-bucket
      path: ${{BUCKET_PATH}}
      region: eu-west-1
      part-size: 10MB
  - path: ~/other.db
    replicas:
      - url: file:///var/backups/other
        sync-interval: 250ms
"""
    cfg = parse_config(text)
    assert cfg.levels == (10.0, 60.0)
    assert (cfg.snapshot_interval, cfg.snapshot_retention, cfg.l0_retention) == (3600, 7200, 60)
    assert (cfg.shutdown_sync_timeout, cfg.shutdown_sync_interval) == (10.0, 0.1)
    assert cfg.logging.level == "debug" and cfg.exec == "myapp --serve"
    app, other = cfg.dbs
    assert app.path == tmp_path / "app.db" and app.meta_path == str(tmp_path / "meta")
    assert (app.monitor_interval, app.checkpoint_interval, app.busy_timeout) == (0.1, 0.0, 2.0)
    assert (app.min_checkpoint_page_count, app.truncate_page_n) == (500, 9000)
    url, options = app.replica.replica_url()
    assert (url.scheme, url.host, url.path) == ("s3", "my-bucket", "backups/app")
    assert options["access-key-id"] == "KEY"  # inherited from the top level
    assert options["region"] == "eu-west-1" and options["part-size"] == "10MB"
    assert app.replica.sync_interval == 5.0
    assert other.path == Path("~/other.db").expanduser()
    url, options = other.replica.replica_url()
    assert (url.scheme, url.path) == ("file", "/var/backups/other")
    assert other.replica.sync_interval == 0.25
    assert "part-size" not in options


def test_file_replica_by_path(tmp_path):
    cfg = parse_config(f"dbs:\n  - path: {tmp_path}/a.db\n    replica:\n      path: {tmp_path}/r\n")
    url, _ = cfg.dbs[0].replica.replica_url()
    assert (url.scheme, url.path) == ("file", str(tmp_path / "r"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dbs:\n  - path: /a.db\n    monitor-intervall: 1s\n",
         "dbs[0]: unknown key 'monitor-intervall' (did you mean 'monitor-interval'?)"),
        ("dbs:\n  - path: /a.db\n    replica:\n      typo: x\n",
         "dbs[0].replica: unknown key 'typo'"),
        ("bogus: 1\n", "top level: unknown key 'bogus'"),
        ("dbs:\n  - path: /a.db\n    monitor-interval: 5\n", "invalid duration"),
        ("dbs:\n  - monitor-interval: 1s\n", "must specify either 'path' or 'dir'"),
        ("dbs:\n  - path: /a.db\n    replicas:\n      - path: /x\n      - path: /y\n",
         "multiple replicas"),
        ("dbs:\n  - path: /a.db\n    replica:\n      path: /x\n    replicas:\n      - path: /y\n",
         "both 'replica' and 'replicas'"),
        ("retention: 24h\n", "expected a mapping"),
        ("dbs: [\n", "invalid YAML at line"),
        ("snapshot:\n  interval: 0s\n", "snapshot.interval: must be greater than zero"),
        ("age:\n  identities: [x]\n", "'age' belongs inside a replica block"),
        ("dbs:\n  - path: /a.db\n  - path: /a.db\n", "listed twice"),
    ],
)  # fmt: skip
def test_errors_are_one_line_naming_the_key(text, message):
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="t.yml")
    line = info.value.one_line()
    assert message in line and "\n" not in line
    assert line.startswith("t.yml")


def test_keys_of_earlier_go_releases_are_one_warning_naming_each():
    replica = "        retention: 24h\n        snapshot-interval: 1h\n"
    cfg = parse_config(
        "skip-remote-deletion: true\nsnapshot-interval: 1h\nretention:\n  enabled: false\n"
        "dbs:\n  - path: /a.db\n    max-checkpoint-page-count: 100\n"
        "    replicas:\n      - path: /r\n        name: x\n"
        "        retention-check-interval: 1h\n        validation-interval: 1h\n" + replica
        + "".join(f"  - path: /{i}.db\n    replicas:\n      - path: /r{i}\n" + replica
                  for i in range(1, 6)),
        source="t.yml",
    )  # fmt: skip
    assert len(cfg.warnings) == 1
    warning = cfg.warnings[0]
    assert warning.startswith("t.yml: keys of earlier Go releases ignored")
    named = re.findall(r"'([a-z-]+)' \(", warning)
    assert named == [
        "skip-remote-deletion",
        "snapshot-interval",
        "max-checkpoint-page-count",
        "name",
        "retention-check-interval",
        "validation-interval",
        "retention",
    ]
    # Each key once, with where it is (a long list cut short).
    assert "'snapshot-interval' (top level, dbs[0].replicas[0], dbs[1].replicas[0] and 4 more:" in (
        warning
    )
    assert "use retention.enabled: false" in warning
    assert not cfg.retention_enabled  # the retention block is v0.5's, not ignored
    assert cfg.dbs[0].replica is not None and cfg.dbs[0].replica.path == "/r"
    assert not parse_config("dbs:\n  - path: /a.db\n").warnings


def test_load_config_missing_and_no_expand(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yml")
    path = tmp_path / "c.yml"
    path.write_text("dbs:\n  - path: /x/$NAME.db\n")
    monkeypatch.setenv("NAME", "app")
    assert load_config(path).dbs[0].path == Path("/x/app.db")
    assert load_config(path, expand=False).dbs[0].path == Path("/x/$NAME.db")
    monkeypatch.setenv("LITESTREAM_CONFIG", str(path))
    assert load_config().source == str(path)


def test_url_and_path_conflict():
    cfg = parse_config("dbs:\n  - path: /a.db\n    replica:\n      url: s3://b/p\n      path: x\n")
    with pytest.raises(ConfigError, match="both 'url' and 'path'"):
        cfg.dbs[0].replica.replica_url()


def test_per_database_snapshot_follows_go_s_rule():
    one = "dbs:\n  - path: /a.db\n    snapshot:\n      interval: 1h\n      retention: 2h\n"
    cfg = parse_config(one + "  - path: /b.db\n    snapshot:\n      interval: 1h\n")
    assert (cfg.snapshot_interval, cfg.snapshot_retention) == (3600, 7200)  # applied to all
    top = parse_config("snapshot:\n  interval: 30m\n" + one)
    assert (top.snapshot_interval, top.snapshot_retention) == (1800, 7200)  # top level wins
    with pytest.raises(ConfigError, match="conflicting database snapshot intervals"):
        parse_config(one + "  - path: /b.db\n    snapshot:\n      interval: 2h\n")
    with pytest.raises(ConfigError, match="must be greater than zero"):
        parse_config("dbs:\n  - path: /a.db\n    snapshot:\n      retention: 0s\n")
    assert not parse_config(one).warnings
