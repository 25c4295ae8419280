"""The ``timeout`` replica key reaches each network backend's SDK, and ``stall-warning``
reaches the replica's watchdog."""

from __future__ import annotations

import pytest
from litestream_abs.settings import settings_from as abs_settings
from litestream_gcs.settings import settings_from as gcs_settings
from litestream_nats.config import resolve_config as nats_config
from litestream_s3.client import S3ReplicaClient
from litestream_s3.settings import settings_from as s3_settings
from litestream_sftp.config import resolve_config as sftp_config

from litestream_core.backend_support.timeouts import timeout_option
from litestream_core.client import ReplicaURL
from litestream_core.config import parse_config
from litestream_core.engine.store import replica_settings
from litestream_core.errors import ConfigError


def test_timeout_option() -> None:
    assert timeout_option({}, "s3", 30.0) == 30.0
    assert timeout_option({"timeout": "1.5s"}, "s3", 30.0) == 1.5
    assert timeout_option({"timeout": 2}, "s3", 30.0) == 2.0
    for bad in ("0s", "-1s", "soon"):
        with pytest.raises(ConfigError, match="timeout"):
            timeout_option({"timeout": bad}, "s3", 30.0)


def test_each_backend_takes_its_timeout() -> None:
    options = {"timeout": "2s"}
    s3 = s3_settings(ReplicaURL.parse("s3://b/p"), options)
    assert s3.timeout == 2.0
    config = S3ReplicaClient(s3)._config("us-east-1")
    assert (config.connect_timeout, config.read_timeout) == (2.0, 2.0)
    assert gcs_settings(ReplicaURL.parse("gs://b/p"), options).timeout == 2.0
    abs_options = {**options, "account-name": "acct"}
    assert abs_settings(ReplicaURL.parse("abs://c/p"), abs_options, {}).timeout == 2.0
    assert sftp_config(ReplicaURL.parse("sftp://u@h/p"), options).timeout == 2.0
    assert nats_config(ReplicaURL.parse("nats://h/b"), options).timeout == 2.0
    # Defaults: 30 s, NATS 10 s as in Go.
    assert s3_settings(ReplicaURL.parse("s3://b/p"), {}).timeout == 30.0
    assert sftp_config(ReplicaURL.parse("sftp://u@h/p"), {}).timeout == 30.0
    assert nats_config(ReplicaURL.parse("nats://h/b"), {}).timeout == 10.0


def test_stall_warning_from_the_config() -> None:
    text = "dbs:\n  - path: /x.db\n    replica:\n      url: file:///r\n      stall-warning: 5s\n"
    (db,) = parse_config(text).dbs
    assert replica_settings(db).stall_warning == 5.0
    (db,) = parse_config(text.replace("      stall-warning: 5s\n", "")).dbs
    assert replica_settings(db).stall_warning == 60.0
    inherited = "stall-warning: 0s\n" + text.replace("      stall-warning: 5s\n", "")
    (db,) = parse_config(inherited).dbs
    assert replica_settings(db).stall_warning == 0.0
    with pytest.raises(ConfigError, match="stall-warning"):
        parse_config(text.replace("5s", "-5s"))
