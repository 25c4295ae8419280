"""``allow-app-checkpoints``: the application's own checkpoints do not wait for us.

The application runs in another process (see ``AppProcess``). Between syncs we hold no
read transaction, so its ``wal_checkpoint(TRUNCATE)`` succeeds at once; the WAL it
restarts no longer leads from our position, and the next L0 file holds exactly the
pages that differ from the replicated state. Every L0 file is applied as it appears
and compared with the live database (``ChainChecker``); at the end the local files
are restored by our CLI and by the Go binary and compared with the source.
"""

from __future__ import annotations

import io
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litestream_core.config import parse_config
from litestream_core.engine import syncer as syncer_module
from litestream_core.engine.db import DB, DBSettings
from litestream_core.engine.snapshot import PageSums, write_changed_pages
from litestream_core.engine.store import db_settings
from litestream_core.errors import DatabaseError
from litestream_core.events import Event, SnapshotWritten
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Header, decode_file

sys.path.insert(0, str(Path(__file__).parent))
from e2e_helpers import (
    LITESTREAM,
    Writer,
    litestream,
    rows_of,
    stop_process,
    wait_for_upload,
    write_config,
)
from test_engine_db_support import (
    AppProcess,
    ChainChecker,
    app_connect,
    l0_files,
    run,
    stop_applications,  # noqa: F401  (closes the applications)
    write_mixed,
)

SETTINGS = DBSettings(allow_app_checkpoints=True, checkpoint_interval=0)


def _fill(app: AppProcess, rows: int = 60) -> None:
    app.execute("BEGIN")
    for _ in range(rows):
        app.execute("INSERT INTO t (v) VALUES (randomblob(900))")
    app.execute("COMMIT")


def _changed_pages(before: bytes, after: bytes, page_size: int) -> set[int]:
    n = len(after) // page_size
    return {
        p
        for p in range(1, n + 1)
        if before[(p - 1) * page_size : p * page_size] != after[(p - 1) * page_size : p * page_size]
    }


def test_truncate_is_not_blocked_and_the_next_file_holds_only_changed_pages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    app.execute("PRAGMA busy_timeout=0")  # a wait for our lock would fail at once
    _fill(app)
    events: list[Event] = []

    async def main() -> None:
        db = DB(path, SETTINGS, emit=events.append)
        await db.open()
        chain = ChainChecker(db, app)
        await db.sync()
        chain.check()
        replicated = app.serialize()
        assert app.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0] == (0, 0, 0)
        app.execute("UPDATE t SET v = randomblob(900) WHERE id = 7")
        assert app.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0] == (0, 0, 0)
        await db.sync()
        chain.check()  # the chain still equals the live database
        newest = l0_files(db)[-1]
        header, pages, _ = decode_file(newest.read_bytes())
        want = _changed_pages(replicated, app.serialize(), header.page_size)
        assert not header.is_snapshot and header.min_txid == header.max_txid
        assert {p for p, _ in pages} == want
        assert 1 <= len(want) <= 4 < header.commit  # the updated row, our seq row, page 1
        await db.close()

    run(main())
    assert [e.reason for e in events if isinstance(e, SnapshotWritten)] == ["first sync"]


def test_without_the_setting_our_read_lock_still_holds_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    app.execute("PRAGMA busy_timeout=0")
    _fill(app, 5)

    async def main() -> None:
        db = DB(path, DBSettings(checkpoint_interval=0))
        await db.open()
        await db.sync()
        assert app.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0][0] == 1  # busy
        await db.close()

    run(main())


def test_a_restart_while_a_file_is_read_drops_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The application's next writer restarts a fully checkpointed WAL even while our
    freshly begun read transaction (read mark 0) is open: the frames being read may be
    overwritten, so the file is dropped and the step read again."""
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    _fill(app, 10)
    events: list[Event] = []
    real = syncer_module.write_pages
    restarts = []

    def restart_meanwhile(*args: object, **kwargs: object) -> object:
        if not restarts:
            app.execute("INSERT INTO t (v) VALUES (x'01')")  # restarts the WAL
            restarts.append(app.execute("PRAGMA wal_checkpoint").fetchall())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    async def main() -> None:
        db = DB(path, SETTINGS, emit=events.append)
        await db.open()
        chain = ChainChecker(db, app)
        await db.sync()
        chain.check()
        _fill(app, 3)
        app.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # all copied, no restart
        monkeypatch.setattr(syncer_module, "write_pages", restart_meanwhile)
        await db.sync()
        monkeypatch.setattr(syncer_module, "write_pages", real)
        chain.check()
        await db.close()

    run(main())
    assert restarts
    reasons = [e.reason for e in events if isinstance(e, SnapshotWritten)]
    assert reasons == ["first sync", "WAL restarted by another process"]


def test_a_restart_while_a_replica_snapshot_is_read_fails_that_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=0)
    _fill(app, 10)
    real = syncer_module.write_pages
    restarts = []

    def restart_meanwhile(*args: object, **kwargs: object) -> object:
        header = args[1]
        assert isinstance(header, Header)
        if header.min_txid == 1 and not restarts:  # the snapshot, not a sync
            restarts.append(app.execute("INSERT INTO t (v) VALUES (x'01')"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    async def main() -> None:
        db = DB(path, SETTINGS)
        await db.open()
        chain = ChainChecker(db, app)
        await db.sync()
        app.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # all copied, no restart
        monkeypatch.setattr(syncer_module, "write_pages", restart_meanwhile)
        with pytest.raises(DatabaseError, match="WAL restarted while the snapshot was read"):
            await db.write_snapshot(io.BytesIO())
        monkeypatch.setattr(syncer_module, "write_pages", real)
        assert restarts
        await db.sync()
        chain.check()
        out = io.BytesIO()
        header = await db.write_snapshot(out)
        _, pages, _ = decode_file(out.getvalue())
        image = bytearray(header.commit * header.page_size)
        for pgno, data in pages:
            image[(pgno - 1) * header.page_size : pgno * header.page_size] = data
        assert bytes(image) == app.serialize()
        await db.close()

    run(main())


def _l0_replica(meta: Path, tmp_path: Path) -> Path:
    """Our local L0 files as a file replica."""
    replica = tmp_path / "replica"
    (replica / "ltx" / "0").mkdir(parents=True)
    for f in sorted((meta / "ltx" / "0").glob("*.ltx")):
        shutil.copy(f, replica / "ltx" / "0" / f.name)
    return replica


def _restore_both(
    replica: Path, tmp_path: Path, go_litestream: Path, go_env: dict[str, str], *, go: bool = True
) -> list[Path]:
    """The replica restored by our CLI and (unless ``go`` is False) by Go's."""
    ours, go_out = tmp_path / "ours.db", tmp_path / "go.db"
    result = litestream("restore", "-o", str(ours), f"file://{replica}")
    assert result.returncode == 0, result.stderr
    if not go:
        return [ours]
    done = subprocess.run(
        [str(go_litestream), "restore", "-o", str(go_out), f"file://{replica}"],
        env=go_env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [ours, go_out]


def _rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()


@pytest.mark.parametrize(("seed", "checksums"), [(0, False), (1, False), (2, True)])
def test_random_commits_checkpoints_and_syncs_restore_exactly(
    tmp_path: Path, seed: int, checksums: bool, go_litestream: Path, go_env: dict[str, str]
) -> None:
    rng = random.Random(seed)
    path = tmp_path / "app.db"
    app = app_connect(path, autocheckpoint=rng.choice([0, 0, 7]))
    _fill(app, 20)
    kinds: list[str] = []

    async def main() -> DB:
        settings = DBSettings(
            allow_app_checkpoints=True, min_checkpoint_page_count=40, ltx_checksums=checksums
        )
        db = DB(path, settings)
        await db.open()
        chain = ChainChecker(db, app)
        for step in range(60):
            op = rng.random()
            if op < 0.45:
                write_mixed(app, rng.randrange(1000))
            elif op < 0.7:
                mode = rng.choice(["PASSIVE", "FULL", "RESTART", "TRUNCATE"])
                app.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
            elif op < 0.73:
                app.execute("VACUUM")
            else:
                before = l0_files(db)
                await db.sync()
                chain.check()
                for new in sorted(set(l0_files(db)) - set(before)):
                    header = decode_file(new.read_bytes())[0]
                    kinds.append("snapshot" if header.is_snapshot else "incremental")
            if step == 30:
                await db.checkpoint(rng.choice(["PASSIVE", "TRUNCATE"]))
                chain.check()
        await db.sync()
        chain.check()
        await db.close()
        return db

    db = run(main())
    app.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    source = app.serialize()
    expected = _rows(path)
    replica = _l0_replica(db.meta_path, tmp_path)
    checked = litestream("verify", f"file://{replica}")  # every file, no gap, page by page
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # With checksums ours verifies the whole chain on restore; Go refuses such files.
    restores = _restore_both(replica, tmp_path, go_litestream, go_env, go=not checksums)
    for restored in restores:
        assert restored.read_bytes() == source, restored.name
        assert _rows(restored) == expected
    assert kinds.count("snapshot") <= 1 < len(kinds)  # only the first sync was full


def test_the_yaml_key_reaches_the_engine() -> None:
    cfg = parse_config("dbs:\n  - path: /a.db\n    allow-app-checkpoints: true\n  - path: /b.db\n")
    assert [db_settings(d).allow_app_checkpoints for d in cfg.dbs] == [True, False]


def test_replicate_with_an_application_that_truncates_restores_with_both_tools(
    tmp_path: Path, go_litestream: Path, go_env: dict[str, str]
) -> None:
    """The real daemon and an application (another process) that runs
    ``wal_checkpoint(TRUNCATE)`` after every few commits while it is replicated."""
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    writer = Writer(db)
    writer.step(10)
    cfg = write_config(tmp_path, db, replica, extra_db="    allow-app-checkpoints: true\n")
    log = tmp_path / "replicate.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    results = []
    try:
        wait_for_upload(replica, 0)
        for i in range(60):
            writer.step(3)
            if i == 30:
                writer.vacuum()
            results.append(writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
    finally:
        assert stop_process(proc) == 0, log.read_text()
    # Each TRUNCATE waited at most for a sync in progress, never failed for our lock.
    assert all(busy == 0 for busy, _, _ in results), results
    # Sixty WAL restarts behind its back, and the only snapshot is the first sync's.
    lines = log.read_text().splitlines()
    snapshots = [line for line in lines if 'msg="snapshot started"' in line]
    assert len(snapshots) == 1 and 'reason="first sync"' in snapshots[0], snapshots
    assert any("copied only the changed pages" in line for line in lines)
    writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    expected, source = rows_of(db), db.read_bytes()
    writer.close()
    for restored in _restore_both(replica, tmp_path, go_litestream, go_env):
        assert rows_of(restored) == expected
        assert restored.read_bytes() == source, restored.name
        with sqlite3.connect(restored) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class _Pages:
    """Stands in for ``PageReader``: pages of an in-memory database image."""

    def __init__(self, image: bytes, page_size: int) -> None:
        self.image, self.page_size = image, page_size

    def read(self, pgno: int, frame_offset: int | None) -> bytes:
        return self.image[(pgno - 1) * self.page_size : pgno * self.page_size]


@settings(max_examples=60, deadline=None)
@given(
    old_pages=st.integers(1, 12),
    new_pages=st.integers(1, 12),
    edits=st.lists(st.tuples(st.integers(1, 12), st.binary(min_size=1, max_size=8)), max_size=6),
)
def test_changed_pages_turn_the_replicated_state_into_the_new_one(
    old_pages: int, new_pages: int, edits: list[tuple[int, bytes]]
) -> None:
    ps = 512
    old = bytes(random.Random(old_pages).randbytes(old_pages * ps))
    new = bytearray(old[: new_pages * ps].ljust(new_pages * ps, b"\x07"))
    for pgno, data in edits:
        if pgno <= new_pages:
            new[(pgno - 1) * ps : (pgno - 1) * ps + len(data)] = data
    sums = PageSums()
    for pgno in range(1, old_pages + 1):
        sums.set(pgno, old[(pgno - 1) * ps : pgno * ps])
    header = Header(page_size=ps, commit=new_pages, min_txid=5, max_txid=5, timestamp=1,
                    flags=HEADER_FLAG_NO_CHECKSUM)  # fmt: skip
    out = io.BytesIO()
    _, written = write_changed_pages(out, header, {}, _Pages(bytes(new), ps), sums)  # type: ignore[arg-type]
    _, pages, _ = decode_file(out.getvalue())
    changed = _changed_pages(old, bytes(new), ps) | set(range(old_pages + 1, new_pages + 1))
    assert {p for p, _ in pages} == (changed or {1}) and written == len(pages)
    image = bytearray(old[: new_pages * ps].ljust(new_pages * ps, b"\x00"))
    for pgno, data in pages:
        image[(pgno - 1) * ps : pgno * ps] = data
    assert bytes(image) == bytes(new)
    # The sums now describe the new state: nothing differs from it any more.
    again = write_changed_pages(io.BytesIO(), header, {}, _Pages(bytes(new), ps), sums)[1]  # type: ignore[arg-type]
    assert again == 1
