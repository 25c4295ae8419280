"""Directory replication (``dir:``): which files are databases, where each one's replica
and meta directory go, and a watched directory followed while it changes; the Go
binary restores every database from base + relative path, and lays a directory out as
we do."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_helpers import LITESTREAM, Writer, litestream, rows_of, stop_process, wait_for

from litestream_core.config import parse_config
from litestream_core.engine.dirs import find_databases, is_sqlite_database
from litestream_core.errors import ConfigError


def make_db(path: Path, rows: int = 3) -> list[tuple]:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = Writer(path, seed=len(str(path)))
    writer.step(rows)
    found = writer.rows()
    writer.close()
    return found


def output_of(log: Path) -> str:
    return log.read_text(errors="replace")


def dir_config(text: str, source: str = "t.yml"):
    cfg = parse_config(text, source=source)
    assert len(cfg.dirs) == 1 and not cfg.dbs
    return cfg.dirs[0]


# -- settings of each database ---------------------------------------------------------


def test_replica_location_is_base_plus_relative_path(tmp_path):
    base = "dbs:\n  - dir: /data\n    pattern: '*.db'\n    recursive: true\n    replica:\n"
    cases = {
        "      url: s3://bucket/backups?region=x\n": ("s3://bucket/backups/sub/app.db?region=x",
                                                     None),
        "      url: s3://bucket\n": ("s3://bucket/sub/app.db", None),
        "      url: file:///r\n": ("file:///r/sub/app.db", None),
        "      type: s3\n      bucket: b\n      path: backups\n": (None, "backups/sub/app.db"),
        "      type: s3\n      bucket: b\n": (None, "sub/app.db"),
        "      path: /r\n": (None, "/r/sub/app.db"),
    }  # fmt: skip
    for replica, (url, path) in cases.items():
        db = dir_config(base + replica).database(Path("/data/sub/app.db"))
        assert db.path == Path("/data/sub/app.db")
        assert db.replica is not None
        assert (db.replica.url, db.replica.path) == (url, path), replica
        if db.replica.settings is not None and path is not None:
            assert db.replica.settings.path == path  # what the backend is built from
        assert db.meta_path is None  # the default, beside the database


def test_meta_path_and_meta_dir_per_database():
    entry = "dbs:\n  - dir: /data\n    pattern: '*.db'\n    recursive: true\n"
    with_meta_dir = dir_config(entry + "    meta-dir: /meta\n")
    assert with_meta_dir.database(Path("/data/a/b.db")).meta_path == "/meta/a/b.db-litestream"
    with_meta_path = dir_config(entry + "    meta-path: /meta\n")
    assert with_meta_path.database(Path("/data/a/b.db")).meta_path == "/meta/a/.b.db-litestream"
    assert with_meta_path.database(Path("/data/c.db")).meta_path == "/meta/.c.db-litestream"


def test_which_paths_an_entry_covers():
    flat = dir_config("dbs:\n  - dir: /data\n    pattern: '*.db'\n")
    assert flat.relative(Path("/data/a.db")) == PurePosixPath("a.db")
    assert flat.relative(Path("/data/sub/a.db")) is None  # not recursive
    assert flat.relative(Path("/data/a.sqlite")) is None
    assert flat.relative(Path("/elsewhere/a.db")) is None
    deep = dir_config("dbs:\n  - dir: /data\n    pattern: '*.db'\n    recursive: true\n")
    assert deep.relative(Path("/data/x/y/a.db")) == PurePosixPath("x/y/a.db")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("dir: /d\n", "'pattern' is required when using 'dir'"),
        ("dir: /d\n    path: /a.db\n", "cannot specify both 'path' and 'dir'"),
        ("path: /a.db\n    watch: true\n", "'watch' can only be used with 'dir'"),
        ("path: /a.db\n    meta-dir: /m\n", "'meta-dir' can only be used with 'dir'"),
        ("dir: /d\n    pattern: '*'\n    meta-dir: /m\n    meta-path: /n\n",
         "cannot specify both 'meta-path' and 'meta-dir'"),
        ("recursive: yes-please\n", "recursive: expected true or false"),
    ],
)  # fmt: skip
def test_dir_entry_errors_are_go_s(entry, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(f"dbs:\n  - {entry}")


def test_restore_finds_a_database_of_a_directory_entry(tmp_path):
    cfg = parse_config(
        f"dbs:\n  - dir: {tmp_path}\n    pattern: '*.db'\n    replica:\n      path: /r\n"
    )
    found = cfg.find_db(tmp_path / "gone.db")  # need not exist: it is being restored
    assert found is not None and found.replica is not None
    assert found.replica.path == "/r/gone.db"
    assert cfg.find_db(tmp_path / "x.txt") is None


# -- finding databases ---------------------------------------------------------------


def test_files_are_databases_by_header_and_pattern(tmp_path):
    make_db(tmp_path / "a.db")
    make_db(tmp_path / "sub" / "b.db")
    (tmp_path / "fake.db").write_bytes(b"SQLite format 2\x00" + bytes(100))
    (tmp_path / "empty.db").touch()
    make_db(tmp_path / "other.sqlite")
    (tmp_path / ".a.db-litestream").mkdir()
    (tmp_path / ".a.db-litestream" / "copy.db").write_bytes((tmp_path / "a.db").read_bytes())
    assert is_sqlite_database(tmp_path / "a.db") and not is_sqlite_database(tmp_path / "fake.db")
    entry = "dbs:\n  - dir: {}\n    pattern: '*.db'\n{}"
    flat = dir_config(entry.format(tmp_path, ""))
    assert find_databases(flat) == [tmp_path / "a.db"]
    deep = dir_config(entry.format(tmp_path, "    recursive: true\n"))
    assert find_databases(deep) == [tmp_path / "a.db", tmp_path / "sub" / "b.db"]


def test_no_database_found_is_an_error_unless_watching(tmp_path):
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"dbs:\n  - dir: {tmp_path}\n    pattern: '*.db'\n"
                   f"    replica:\n      path: {tmp_path}/r\n")  # fmt: skip
    result = litestream("replicate", "-once", "-config", str(cfg), timeout=60)
    assert result.returncode == 1
    assert "no SQLite databases found in directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_databases_on_one_replica_are_refused(tmp_path):
    make_db(tmp_path / "d" / "a.db")
    make_db(tmp_path / "b.db")
    cfg = tmp_path / "c.yml"
    # The directory's a.db lands on r/a.db, which the path entry names too.
    cfg.write_text(
        f"dbs:\n  - dir: {tmp_path}/d\n    pattern: '*.db'\n"
        f"    replica:\n      path: {tmp_path}/r\n"
        f"  - path: {tmp_path}/b.db\n    replica:\n      path: {tmp_path}/r/a.db\n"
    )
    result = litestream("replicate", "-once", "-config", str(cfg), timeout=60)
    assert result.returncode == 1, result.stdout
    assert "would share the replica" in result.stderr
    assert not (tmp_path / "r").exists()


def test_go_lays_out_a_directory_as_we_do(tmp_path, go_litestream):
    """Both tools replicate one directory once; each database's replica is at the same
    relative place, and each tool restores the other's."""
    data = tmp_path / "data"
    expected = {
        "a.db": make_db(data / "a.db"),
        "x/b.db": make_db(data / "x" / "b.db", 5),
        "x/y/c.db": make_db(data / "x" / "y" / "c.db", 7),
    }
    (data / "notes.db").write_text("not a database")
    layouts = {}
    for tool, run in (("go", [str(go_litestream)]), ("ours", LITESTREAM)):
        cfg = tmp_path / f"{tool}.yml"
        cfg.write_text(
            f"dbs:\n  - dir: {data}\n    pattern: '*.db'\n    recursive: true\n"
            f"    meta-dir: {tmp_path}/meta-{tool}\n"
            f"    replica:\n      url: file://{tmp_path}/replica-{tool}\n"
        )
        result = subprocess.run([*run, "replicate", "-once", "-config", str(cfg)],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr + result.stdout
        replica = tmp_path / f"replica-{tool}"
        layouts[tool] = sorted(str(p.parent.relative_to(replica)) for p in replica.rglob("ltx"))
        metas = tmp_path / f"meta-{tool}"
        assert sorted(p.name for p in metas.rglob("*-litestream")) == [
            "a.db-litestream", "b.db-litestream", "c.db-litestream"]  # fmt: skip
    assert layouts["go"] == layouts["ours"] == sorted(expected)
    for rel, rows in expected.items():
        for tool, other in (("ours", [str(go_litestream)]), ("go", LITESTREAM)):
            out = tmp_path / "out" / tool / rel
            result = subprocess.run(
                [*other, "restore", "-o", str(out), f"file://{tmp_path}/replica-{tool}/{rel}"],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert rows_of(out) == rows
        # Beyond Go: restore by database path through the config's dir: entry.
        out = tmp_path / "out" / "by-config" / rel
        result = litestream("restore", "-config", str(tmp_path / "ours.yml"), "-o", str(out),
                            str(data / rel))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert rows_of(out) == rows


# -- watching --------------------------------------------------------------------------


def test_watched_directory_follows_new_and_removed_databases(tmp_path, go_litestream):
    """Databases present at start, created while watching (one in a subdirectory made
    afterwards), and removed; the Go binary restores each from base + relative path."""
    data, replica, log = tmp_path / "data", tmp_path / "replica", tmp_path / "log.txt"
    expected = {"first.db": make_db(data / "first.db")}
    cfg = tmp_path / "litestream.yml"
    cfg.write_text(
        f"dbs:\n  - dir: {data}\n    pattern: '*.db'\n    recursive: true\n    watch: true\n"
        f"    monitor-interval: 50ms\n"
        f"    replica:\n      url: file://{replica}\n      sync-interval: 50ms\n"
    )
    with log.open("wb") as out:
        proc = subprocess.Popen([*LITESTREAM, "replicate", "-config", str(cfg)],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: (replica / "first.db" / "ltx").exists(), timeout=30)
        writers = {}
        # Created while watching: the header appears only when SQLite first writes.
        writers["later.db"] = Writer(data / "later.db")
        # A new subdirectory, and at once a database in it (Go misses it: upstream #1027).
        (data / "new" / "deeper").mkdir(parents=True)
        writers["new/deeper/inner.db"] = Writer(data / "new" / "deeper" / "inner.db")
        # A database copied in whole, by a rename (how restores and deploys place files).
        make_db(tmp_path / "staged.db", 4)
        os.rename(tmp_path / "staged.db", data / "moved.db")
        expected["moved.db"] = rows_of(data / "moved.db")
        # Not a database: never replicated.
        (data / "plain.db").write_text("text")
        for name, writer in writers.items():
            writer.step(6)
            expected[name] = writer.rows()
        for rel in expected:
            wait_for(lambda rel=rel: (replica / rel / "ltx").exists(), timeout=30)
        # A writer that connects, commits and closes: our connection keeps the WAL in
        # place (had the watcher opened and closed the file, SQLite's POSIX locks would
        # be gone, the writer would take itself for the last and delete the WAL).
        with contextlib.closing(sqlite3.connect(data / "first.db")) as conn, conn:
            conn.execute("INSERT INTO t (v, n) VALUES (x'01', -1)")
        assert (data / "first.db-wal").exists()
        expected["first.db"] = rows_of(data / "first.db")
        # A restored copy renamed over a database (its WAL and -shm removed first, as
        # they belong to the old file): the engine replicates the new file from a
        # fresh snapshot.
        make_db(tmp_path / "restored.db", 9)
        for side in ("-wal", "-shm"):
            Path(f"{data / 'moved.db'}{side}").unlink(missing_ok=True)
        os.rename(tmp_path / "restored.db", data / "moved.db")
        expected["moved.db"] = rows_of(data / "moved.db")
        wait_for(lambda: "database file replaced" in output_of(log), timeout=30)
        # A removed database is closed (after a last sync); the others go on.
        doomed = data / "later.db"
        writers.pop("later.db").close()
        for path in (doomed, Path(f"{doomed}-wal"), Path(f"{doomed}-shm")):
            path.unlink(missing_ok=True)
        wait_for(lambda: f'stopped replicating it" db={doomed}' in output_of(log),
                 timeout=30)  # fmt: skip
        assert proc.poll() is None
        for writer in writers.values():
            writer.step(3)
        expected["new/deeper/inner.db"] = writers["new/deeper/inner.db"].rows()
    finally:
        code = stop_process(proc, signal.SIGTERM)
    output = log.read_text()
    assert code == 0, output
    assert not (replica / "plain.db").exists()
    assert "Traceback" not in output
    for rel, rows in expected.items():
        out = tmp_path / "restored" / rel
        result = subprocess.run(
            [str(go_litestream), "restore", "-o", str(out), f"file://{replica}/{rel}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert rows_of(out) == rows, rel
        check = sqlite3.connect(out)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        check.close()
    for writer in writers.values():
        writer.close()


def test_databases_lists_each_database_of_a_directory(tmp_path):
    make_db(tmp_path / "data" / "a.db")
    make_db(tmp_path / "data" / "x" / "b.db")
    cfg = tmp_path / "c.yml"
    cfg.write_text(f"dbs:\n  - dir: {tmp_path}/data\n    pattern: '*.db'\n    recursive: true\n"
                   f"    replica:\n      url: s3://bucket/base\n")  # fmt: skip
    result = litestream("databases", "-config", str(cfg), "-json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"path": str(tmp_path / "data" / "a.db"), "replica": "s3"},
        {"path": str(tmp_path / "data" / "x" / "b.db"), "replica": "s3"},
    ]


class RecordingStore:
    """What the watcher asks of the store, recorded (the real store is tested above)."""

    def __init__(self) -> None:
        self.added: list[Path] = []
        self.removed: list[Path] = []
        self.entries: list[object] = []

    async def add(self, dbc):
        self.added.append(dbc.path)
        return object()

    async def unregister(self, path):
        self.removed.append(Path(path))
        return object()


def test_watcher_follows_subdirectories_both_ways(tmp_path):
    import asyncio

    from litestream_core.engine.dirs import DirectoryWatcher

    data = tmp_path / "data"
    make_db(data / "keep.db")
    entry = dir_config(f"dbs:\n  - dir: {data}\n    pattern: '*.db'\n    recursive: true\n"
                       "    watch: true\n")  # fmt: skip
    store = RecordingStore()

    async def until(check) -> None:
        for _ in range(200):
            if check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"added {store.added}, removed {store.removed}")

    async def scenario() -> None:
        watcher = DirectoryWatcher(entry, store, known=[data / "keep.db"])  # type: ignore[arg-type]
        await watcher.start()
        try:
            # A tree made at once (mkdir -p, then databases), and a moved-in one.
            make_db(data / "a" / "b" / "c" / "deep.db")
            make_db(tmp_path / "staging" / "x" / "moved.db")
            os.rename(tmp_path / "staging" / "x", data / "x")
            want = {data / "a" / "b" / "c" / "deep.db", data / "x" / "moved.db"}
            await until(lambda: set(store.added) == want)
            # A subdirectory removed (renamed away): its databases are closed.
            os.rename(data / "a", tmp_path / "gone")
            await until(lambda: store.removed == [data / "a" / "b" / "c" / "deep.db"])
            assert watcher.dbs == {data / "keep.db", data / "x" / "moved.db"}
        finally:
            await watcher.close()

    asyncio.run(scenario())
    assert len(store.added) == 2  # the one known at start was not added again


def test_watcher_never_opens_a_database_the_store_replicates(tmp_path, monkeypatch):
    """Closing any descriptor of a file drops this process's POSIX locks on it, SQLite's
    included: the watcher reads the header of new files only. A file replaced under a
    replicated path stays with the store, whose engine follows it."""
    import asyncio

    import litestream_core.engine.dirs as dirs

    data = tmp_path / "data"
    for name in ("mine.db", "swapped.db", "elsewhere.db"):
        make_db(data / name)
    opened: list[Path] = []

    def recording(path):
        opened.append(Path(path))
        return is_sqlite_database(path)

    monkeypatch.setattr(dirs, "is_sqlite_database", recording)
    entry = dir_config(f"dbs:\n  - dir: {data}\n    pattern: '*.db'\n    watch: true\n")
    store = RecordingStore()
    store.entries = [SimpleNamespace(db=SimpleNamespace(path=data / "elsewhere.db"))]
    known = [data / "mine.db", data / "swapped.db"]

    async def scenario() -> None:
        watcher = dirs.DirectoryWatcher(entry, store, known=known)  # type: ignore[arg-type]
        await watcher.start()
        try:
            with contextlib.closing(sqlite3.connect(data / "mine.db")) as conn, conn:
                conn.execute("INSERT INTO t (v, n) VALUES (x'00', 999)")
            make_db(tmp_path / "restored.db", 5)
            os.rename(tmp_path / "restored.db", data / "swapped.db")
            make_db(data / "new.db")  # a control: the watcher is listening
            for _ in range(200):
                if store.added:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(2 * dirs.DEBOUNCE)
        finally:
            await watcher.close()

    asyncio.run(scenario())
    assert store.added == [data / "new.db"] and store.removed == []
    assert set(opened).isdisjoint([*known, data / "elsewhere.db"]), opened


def test_watching_without_inotify_is_a_start_up_error(tmp_path, monkeypatch):
    """Where inotify is missing (not Linux) ``watch: true`` says so at start; nothing
    falls back to polling."""
    import asyncio
    import errno

    import litestream_core.engine.dirs as dirs

    data = tmp_path / "data"
    make_db(data / "a.db")
    monkeypatch.setattr(dirs, "inotify_simple", None)
    entry = dir_config(f"dbs:\n  - dir: {data}\n    pattern: '*.db'\n    watch: true\n")
    watcher = dirs.DirectoryWatcher(entry, RecordingStore())  # type: ignore[arg-type]
    with pytest.raises(OSError, match="needs inotify") as raised:
        asyncio.run(watcher.start())
    assert raised.value.errno == errno.ENOSYS


def test_one_bucket_path_on_two_servers_is_two_replicas(tmp_path):
    from litestream_core.engine.store import build_store

    def config(second_endpoint: str) -> str:
        return "".join(
            f"  - path: {tmp_path}/{name}.db\n    replica:\n      type: s3\n      bucket: b\n"
            f"      path: p\n      endpoint: {endpoint}\n"
            for name, endpoint in (("a", "http://127.0.0.1:1"), ("b", second_endpoint))
        )

    assert len(build_store(parse_config("dbs:\n" + config("http://127.0.0.1:2"))).entries) == 2
    with pytest.raises(ConfigError, match="would share the replica s3://b/p"):
        build_store(parse_config("dbs:\n" + config("http://127.0.0.1:1")))


def test_a_directory_database_and_a_path_entry_sharing_a_meta_directory_are_refused(tmp_path):
    from litestream_core.engine.store import build_store

    make_db(tmp_path / "d" / "a.db")
    text = (
        f"dbs:\n  - dir: {tmp_path}/d\n    pattern: '*.db'\n    meta-dir: {tmp_path}/m\n"
        f"    replica:\n      path: {tmp_path}/r1\n"
        f"  - path: {tmp_path}/b.db\n    meta-path: {tmp_path}/m/a.db-litestream\n"
        f"    replica:\n      path: {tmp_path}/r2\n"
    )
    with pytest.raises(ConfigError, match=r"would share the meta directory .*/m/a\.db-litestream"):
        build_store(parse_config(text))
    # Two databases of one name in different subdirectories each get their own.
    make_db(tmp_path / "d" / "x" / "a.db")
    ok = text.replace(f"    meta-path: {tmp_path}/m/a.db-litestream\n", "")
    ok = ok.replace("pattern: '*.db'\n", "pattern: '*.db'\n    recursive: true\n")
    store = build_store(parse_config(ok))
    assert len({e.db.meta_path for e in store.entries}) == len(store.entries) == 3
