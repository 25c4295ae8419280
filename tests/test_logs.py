"""Log output: logfmt like Go's slog text handler by default, JSON or pretty on request.

Every line of a replicate and a restore run is parsed with a logfmt parser (the
``logfmtkv`` package in its strict, go-logfmt mode: not our code) or ``json.loads``,
and must carry the fields users filter on: time (RFC 3339), level, msg, db, replica,
txid in Go's 16 hex digits.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import logfmtkv
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from e2e_helpers import (
    LITESTREAM,
    Writer,
    make_bucket,
    replica_max_txid,
    s3_env,
    stop_process,
    wait_for,
    wait_for_upload,
)

from litestream_core import events
from litestream_core.engine.eventlog import EventLog, logged
from litestream_core.logs import TRACE, configure, resolve_level

TXID = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture(autouse=True)
def _restore_logging():
    logger = logging.getLogger("litestream")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def parse_line(line: str) -> dict[str, str]:
    """One logfmt line, read as Go's go-logfmt reads it (a malformed line raises)."""
    return logfmtkv.parse(line, strict=True)


def _render(kind: str, **kwargs) -> str:
    out = io.StringIO()
    configure(kind=kind, stream=out, level=logging.DEBUG, **kwargs)
    log = logging.getLogger("litestream.test")
    log.info("snapshot is on the replica",
             extra={"db": "/data/my app.db", "replica": "s3", "txid": "0000000000000001",
                    "size": 4096, "error": 'said "no"', "empty": ""})  # fmt: skip
    log.warning("secret s3cr3t-value in a message", extra={"url": "s3://k:s3cr3t-value@b"})
    return out.getvalue()


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert when.tzinfo is not None, text
    return when


# -- rendering -------------------------------------------------------------------------


def test_text_is_logfmt_like_gos_slog_text_handler() -> None:
    lines = _render("text", secrets=["s3cr3t-value"]).splitlines()
    first = lines[0]
    assert re.match(r'^time=\S+ level=INFO msg="snapshot is on the replica" db=', first), first
    fields = parse_line(first)
    assert fields["db"] == "/data/my app.db"  # quoted because of the space
    assert fields["error"] == 'said "no"'
    assert fields["size"] == "4096"
    assert "empty" not in fields  # an empty value is left out, not written as `empty=`
    _time(fields["time"])
    warning = parse_line(lines[1])
    assert warning["level"] == "WARN"  # Go's name
    assert "s3cr3t-value" not in lines[1]
    assert warning["msg"] == "secret *** in a message"
    assert warning["url"] == "s3://k:***@b"


def test_json_has_the_same_fields_and_rfc3339_times() -> None:
    lines = _render("json", secrets=["s3cr3t-value"]).splitlines()
    first, second = (json.loads(line) for line in lines)
    assert list(first)[:3] == ["time", "level", "msg"]
    assert first["db"] == "/data/my app.db" and first["size"] == 4096
    _time(first["time"])
    assert "s3cr3t-value" not in lines[1] and second["level"] == "WARN"


def test_source_adds_file_and_line() -> None:
    fields = parse_line(_render("text", source=True).splitlines()[0])
    assert re.fullmatch(r"test_logs\.py:\d+", fields["source"]), fields["source"]


def test_pretty_is_plain_text_off_a_terminal() -> None:
    text = _render("pretty")
    assert "snapshot is on the replica" in text and "\x1b[" not in text


def test_tracebacks_stay_on_their_line_and_are_redacted() -> None:
    out = io.StringIO()
    configure(stream=out, secrets=["hunter2-secret"])
    try:
        raise ValueError("bad key hunter2-secret")
    except ValueError:
        logging.getLogger("litestream.test").exception("unexpected error")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    fields = parse_line(lines[0])
    assert "ValueError: bad key ***" in fields["exception"]
    assert "hunter2-secret" not in lines[0]


def test_level_precedence_is_gos(monkeypatch: pytest.MonkeyPatch) -> None:
    """-log-level beats LOG_LEVEL, which beats logging.level; unknown means INFO."""
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    assert resolve_level(None, "error") == logging.ERROR
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert resolve_level(None, "error") == logging.DEBUG
    assert resolve_level("warn", "error") == logging.WARNING
    monkeypatch.setenv("LOG_LEVEL", "nonsense")
    assert resolve_level(None, "error") == logging.INFO


def test_help_and_version_do_not_import_structlog() -> None:
    code = (
        "import sys\nfrom litestream_core.cli import main\n"
        "for args in (['--help'], ['version'], ['replicate', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('structlog' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.stderr.strip().splitlines()[-1] == "False", result.stderr


# -- a replicate and restore run -------------------------------------------------------


def _config(tmp_path: Path, db: Path, replica: Path, logging_block: str = "") -> Path:
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        f"{logging_block}levels:\n  - interval: 1s\nsnapshot:\n  interval: 1s\n"
        f"dbs:\n  - path: {db}\n    monitor-interval: 50ms\n"
        f"    replica:\n      url: file://{replica}\n      sync-interval: 50ms\n"
    )
    return cfg


def _run(
    tmp_path: Path, logging_block: str = "", *args: str, env: dict[str, str] | None = None
) -> tuple[str, str, Path, Path]:
    """Replicate a database through snapshots, writes and a compaction; stop; return
    stdout, stderr, the database and its replica."""
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(3)
    cfg = _config(tmp_path, db, replica, logging_block)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg), *args],
                                stdout=stdout, stderr=stderr,
                                env={**os.environ, **(env or {})})  # fmt: skip
    try:
        wait_for_upload(replica, 0)
        writer.step(10)
        txid = replica_max_txid(replica)
        wait_for_upload(replica, txid)
        for level in (1, 9):  # a compaction and a scheduled snapshot
            wait_for(lambda level=level: list(replica.glob(f"ltx/{level}/*.ltx")), timeout=30)
    finally:
        writer.close()
        assert stop_process(proc) == 0
    return out.read_text(), err.read_text(), db, replica


def _parsed(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    assert lines, "no log lines"
    parsed = [parse_line(line) for line in lines]
    for line, fields in zip(lines, parsed, strict=True):
        assert {"time", "level", "msg"} <= set(fields), line
        _time(fields["time"])
        for key in ("txid", "txid.min", "txid.max"):
            if key in fields:
                assert TXID.match(fields[key]), line
    return parsed


def test_replicate_and_restore_lines_parse_as_logfmt(tmp_path: Path) -> None:
    stdout, stderr, db, replica = _run(tmp_path)
    assert stderr == ""
    lines = _parsed(stdout)
    by_msg = {line["msg"]: line for line in lines}
    assert "version" in by_msg["litestream starting"]
    start = by_msg["replicating database"]
    assert start["db"] == str(db) and start["replica"] == "file"
    assert start["path"] == str(replica)
    # The first snapshot and scheduled ones: each starts, then is safely on the replica
    # (the last may still be under way when replication stops).
    for reason in ("first sync", "scheduled"):
        mine = [(i, f) for i, f in enumerate(lines) if f.get("reason") == reason]
        begun = [(i, f) for i, f in mine if f["msg"] == "snapshot started"]
        done = [(i, f) for i, f in mine if f["msg"] == "snapshot is on the replica"]
        assert done and len(begun) - 1 <= len(done) <= len(begun), reason
        for (i, start), (j, end) in zip(begun, done, strict=False):
            assert i < j and start["db"] == end["db"] == str(db)
            assert start.get("txid", end["txid"]) == end["txid"]
            assert int(end["size"]) > 0 and end["duration"].endswith("s")
            assert end["replica"] == "file"
    assert by_msg["stopped replicating"]["db"] == str(db)
    # No event said twice: no line repeats the one before it (time aside).
    bare = [{k: v for k, v in f.items() if k != "time"} for f in lines]
    assert not [a for a, b in itertools.pairwise(bare) if a == b]

    restored = tmp_path / "restored.db"
    result = subprocess.run([*LITESTREAM, "restore", "-o", str(restored), f"file://{replica}"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = _parsed(result.stdout)
    assert line["msg"] == "restored database" and line["db"] == str(restored)
    assert line["replica"] == "file" and TXID.match(line["txid"])


def test_json_lines_and_stderr(tmp_path: Path) -> None:
    stdout, stderr, db, _ = _run(tmp_path, "logging:\n  type: json\n  stderr: true\n")
    assert stdout == ""
    lines = [json.loads(line) for line in stderr.splitlines()]
    for line in lines:
        assert {"time", "level", "msg"} <= set(line)
        _time(line["time"])
    done = next(line for line in lines if line["msg"] == "snapshot is on the replica")
    assert done["db"] == str(db) and TXID.match(done["txid"]) and done["size"] > 0


def test_log_level_flag_beats_env_and_config(tmp_path: Path) -> None:
    quiet = "logging:\n  level: error\n"
    runs = {"flag": ({"LOG_LEVEL": "warn"}, ["-log-level", "debug"]),
            "env": ({"LOG_LEVEL": "debug"}, []), "config": ({"LOG_LEVEL": ""}, [])}  # fmt: skip
    out = {}
    for name, (env, args) in runs.items():
        (tmp_path / name).mkdir()
        out[name] = _run(tmp_path / name, quiet, *args, env=env)[0]
    assert any(line["level"] == "DEBUG" for line in _parsed(out["flag"]))
    assert any(line["level"] == "DEBUG" for line in _parsed(out["env"]))
    assert out["config"] == ""


def test_start_up_names_the_s3_replica_but_never_its_secret(tmp_path: Path, moto_port: int) -> None:
    make_bucket(moto_port, "logs-bucket")
    db = tmp_path / "app.db"
    writer = Writer(db)
    writer.step(2)
    writer.close()
    secret = "s3cret-Access-Key-0123456789"
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        f"dbs:\n  - path: {db}\n    replica:\n      type: s3\n      bucket: logs-bucket\n"
        f"      path: backups/app\n      endpoint: http://127.0.0.1:{moto_port}\n"
        f"      region: us-east-1\n      force-path-style: true\n"
        f"      access-key-id: test\n      secret-access-key: {secret}\n"
    )
    env = {k: v for k, v in s3_env().items() if not k.startswith("LITESTREAM_")}
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        wait_for(lambda: "replicating database" in log.read_text(), timeout=60)
    finally:
        stop_process(proc)
    text = log.read_text()
    assert secret not in text
    start = next(f for f in _parsed(text) if f["msg"] == "replicating database")
    assert start["replica"] == "s3" and start["bucket"] == "logs-bucket"
    assert start["path"] == "backups/app" and start["region"] == "us-east-1"
    assert start["endpoint"] == f"http://127.0.0.1:{moto_port}"
    assert "secret-access-key" not in start


# -- every event's line ----------------------------------------------------------------


def _every_event_class() -> list[type[events.Event]]:
    """The core's own event classes (plugins and tests may subclass Event too)."""
    found = [
        c for c in vars(events).values() if isinstance(c, type) and issubclass(c, events.Event)
    ]
    return sorted((c for c in found if c is not events.Event), key=lambda c: c.__name__)


def _example(cls: type[events.Event]) -> events.Event:
    """An instance with a plausible value in every field (by its declared type)."""
    values: dict[str, object] = {"db_path": "/data/my app.db"}
    for f in dataclasses.fields(cls):
        if f.name in values or f.name == "created_at":
            continue
        kind = str(f.type)
        if kind.startswith("int"):
            values[f.name] = 1234
        elif kind.startswith("float"):
            values[f.name] = 61.5
        elif kind.startswith("bool"):
            values[f.name] = True
        elif f.name in ("replica", "output_path"):
            values[f.name] = "s3://bucket/app" if f.name == "replica" else "/data/restored.db"
        else:
            values[f.name] = f"some {f.name}"
    return cls(**values)  # type: ignore[arg-type]


SILENT = {events.OperationFailed, events.CompactionFailed, events.ReplicaLag,
          events.RestoreProgress}  # fmt: skip
"""Events with no line of their own: the compactor logs its failures where they happen
(one line, not two); lag and progress are for metrics and progress bars."""


@pytest.mark.parametrize("cls", _every_event_class(), ids=lambda c: c.__name__)
def test_every_event_line_is_strict_logfmt_with_go_txids(cls: type[events.Event]) -> None:
    out = io.StringIO()
    configure(stream=out, level=TRACE)
    logged(lambda _: None)(_example(cls))
    lines = out.getvalue().splitlines()
    assert len(lines) == (cls not in SILENT), lines
    for line in lines:
        fields = parse_line(line)
        assert fields["level"] in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}, line
        assert fields["msg"] and "%" not in fields["msg"], line
        assert fields.get("db", "/data/my app.db") in ("/data/my app.db", "/data/restored.db")
        for key, text in fields.items():
            if "txid" in key:
                assert TXID.match(text), line
            assert "s3://bucket" not in text or key == "url", line  # replica= is the type


def test_the_same_upload_error_warns_again_only_after_a_while() -> None:
    lines = EventLog()
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def failed(seconds: float, error: str = "timed out", retry: bool = True) -> int:
        event = events.SyncFailed(db_path="/a.db", operation="upload", replica="s3://b/a",
                                  error=error, error_class="X", attempt=1, will_retry=retry,
                                  created_at=start + timedelta(seconds=seconds))  # fmt: skip
        line = lines.line(event)
        assert line is not None
        return line[0]

    assert failed(0) == logging.WARNING
    assert failed(0.5) == failed(10) == logging.DEBUG  # retries of the same error
    assert failed(11, "access denied") == logging.WARNING  # a new error warns at once
    assert failed(12, "access denied", retry=False) == logging.WARNING  # giving up
    assert failed(45, "access denied") == logging.WARNING  # a while later: again
    lines.line(events.SyncRecovered(db_path="/a.db", replica="s3://b/a", failures=3))
    assert failed(46, "access denied") == logging.WARNING  # a new outage
