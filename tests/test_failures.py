"""Failures of long-running loops: typed events, a traceback once for a bug, counted."""

from __future__ import annotations

import asyncio
import logging

from litestream_core.engine.compaction import Compactor
from litestream_core.engine.failures import FailureReporter
from litestream_core.errors import ReplicaPermissionError
from litestream_core.events import CompactionFailed, OperationFailed
from litestream_core.testing.memory import MemoryReplicaClient


class BuggyClient(MemoryReplicaClient):
    """A backend with a bug: listing raises a plain Python error."""

    def ltx_files(self, level, *, seek=0, use_metadata=False):
        raise KeyError("level")


def test_a_bug_is_logged_once_with_its_traceback_and_every_time_as_an_event(caplog):
    events: list[OperationFailed] = []
    reporter = FailureReporter(logging.getLogger("litestream.test"), events.append,
                               db_path="/a.db", replica="s3://b/db")  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="litestream.test"):
        for attempt in (1, 2, 3):
            try:
                {}["missing"]
            except KeyError as exc:
                reporter.report(exc, operation="upload", attempt=attempt)
        reporter.report(ReplicaPermissionError("s3: access denied"), operation="upload",
                        attempt=4, will_retry=False)  # fmt: skip
    traced = [r for r in caplog.records if r.exc_info]
    assert len(traced) == 1 and "a bug" in traced[0].getMessage()
    assert [(e.error_class, e.attempt, e.unexpected) for e in events] == [
        ("KeyError", 1, True), ("KeyError", 2, True), ("KeyError", 3, True),
        ("ReplicaPermissionError", 4, False),
    ]  # fmt: skip
    assert events[-1].will_retry is False and events[-1].replica == "s3://b/db"


def test_the_compaction_loop_reports_typed_failures(caplog):
    events: list[object] = []
    compactor = Compactor(BuggyClient(), emit=events.append, db_path="/a.db",
                          replica_name="mem://r")  # fmt: skip

    async def main() -> None:
        task = asyncio.create_task(compactor._level_loop(1))
        while len([e for e in events if isinstance(e, CompactionFailed)]) < 1:
            await asyncio.sleep(0.01)
        task.cancel()

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    [failure] = [e for e in events if isinstance(e, CompactionFailed)]
    assert (failure.operation, failure.replica, failure.error_class, failure.unexpected) == (
        "compact", "mem://r", "KeyError", True,
    )  # fmt: skip
    assert sum(1 for r in caplog.records if r.exc_info) == 1


def test_the_child_process_forwards_tracebacks():
    from litestream_core.api._child import _ForwardLogs

    class Outbox:
        def __init__(self) -> None:
            self.messages: list[tuple[object, ...]] = []

        def put(self, message: tuple[object, ...]) -> None:
            self.messages.append(message)

    outbox = Outbox()
    handler = _ForwardLogs(outbox)  # type: ignore[arg-type]
    try:
        raise ValueError("deep inside")
    except ValueError:
        record = logging.LogRecord("litestream.db", logging.ERROR, __file__, 1, "boom", (),
                                   __import__("sys").exc_info())  # fmt: skip
    record.db, record.txid, record.client = "/a.db", "0000000000000001", object()
    handler.emit(record)
    [(_, name, level, text, fields)] = outbox.messages
    assert (name, level) == ("litestream.db", logging.ERROR)
    assert text.startswith("boom\nTraceback") and "ValueError: deep inside" in text
    # Its fields go along; one that cannot cross to the application stays behind.
    assert fields == {"db": "/a.db", "txid": "0000000000000001"}


def test_the_status_table_in_the_docs_is_the_codes():
    import re
    from pathlib import Path

    from litestream_core.backend_support.errors import STATUS_CLASSES, status_class

    doc = Path(__file__).resolve().parent.parent / "docs/plugins/writing-a-backend.md"
    table = doc.read_text().split("| HTTP status | Class |\n|---|---|\n", 1)[1].split("\n\n")[0]
    rows = [re.fullmatch(r"\| (.+) \| `(\w+)` \|", line).groups() for line in table.splitlines()]
    assert rows == [(statuses, cls.__name__) for statuses, cls in STATUS_CLASSES]
    samples = {"401, 403": (401, 403), "404": (404,), "408, 429, 5xx": (408, 429, 500, 503),
               "any other": (400, 409, 412)}  # fmt: skip
    for statuses, cls in STATUS_CLASSES:
        assert all(status_class(s) is cls for s in samples[statuses]), statuses
