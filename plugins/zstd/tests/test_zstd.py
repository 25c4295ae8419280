"""zstd pages: recorded in each file, read back by ours, refused by Go, mixed with LZ4."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from litestream_core.compression import CodecUnavailableError
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Header, decode_file, encode_file
from litestream_core.ltx.header import HEADER_FLAG_PAGE_CODEC
from litestream_core.plugins import get_plugin_manager, page_codecs
from litestream_core.testing.e2e import OUR_LITESTREAM, insert_rows, restore, rows


def text_pages(count: int, size: int = 4096) -> list[tuple[int, bytes]]:
    """Pages of repetitive text, as real table pages are: both codecs shrink them."""
    return [(p, (f"row {p} name-{p * 7} city-{p % 13} " * 400).encode()[:size]) for p in
            range(1, count + 1)]  # fmt: skip


def test_a_zstd_file_names_its_codec_and_needs_it_to_be_read():
    codecs = page_codecs(get_plugin_manager(only={"zstd"}), "zstd")
    header = Header(page_size=4096, commit=8, min_txid=1, max_txid=1, timestamp=1,
                    flags=HEADER_FLAG_NO_CHECKSUM)  # fmt: skip
    pages = text_pages(8)
    zstd = encode_file(header, pages, 0, codecs.write)
    lz4 = encode_file(header, pages, 0)
    written = Header.decode(zstd)
    assert (written.codec, written.page_codec) == ("zstd", "zstd")
    assert written.flags & HEADER_FLAG_PAGE_CODEC
    assert Header.decode(lz4).flags & HEADER_FLAG_PAGE_CODEC == 0  # Go's bytes, untouched
    assert decode_file(zstd, codecs)[1] == pages == decode_file(lz4, codecs)[1]
    assert len(zstd) < len(lz4)
    with pytest.raises(CodecUnavailableError, match="'zstd' is not installed") as info:
        decode_file(zstd)  # a reader knowing only LZ4
    assert info.value.hint == "pip install litestream-zstd"


def replicate_once(config: Path, *flags: str) -> str:
    proc = subprocess.run(
        [str(OUR_LITESTREAM), "replicate", "-config", str(config), "-once", *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def write_config(path: Path, db: Path, replica: Path, compression: str) -> Path:
    path.write_text(
        f"dbs:\n  - path: {db}\n    replica:\n      url: file://{replica}\n"
        f"      compression: {compression}\n"
    )
    return path


def test_zstd_replica_restores_with_ours_and_go_refuses_it(tmp_path, go_litestream, go_env):
    db, replica = tmp_path / "app.db", tmp_path / "replica"
    insert_rows(db, range(1, 200), wal=True)
    config = write_config(tmp_path / "zstd.yml", db, replica, "zstd")
    output = replicate_once(config, "-force-snapshot")  # L0 and an L9 snapshot, in zstd
    assert output.count("Go Litestream cannot restore this replica") == 1
    insert_rows(db, range(200, 260))
    replicate_once(config)
    # Switching back to LZ4 mid-chain: each file still names its own codec.
    insert_rows(db, range(260, 300))
    output = replicate_once(write_config(tmp_path / "lz4.yml", db, replica, "lz4"))
    assert "Go Litestream cannot restore" not in output
    codecs = {Header.decode(p.read_bytes()[:100]).page_codec for p in replica.rglob("*.ltx")}
    assert codecs == {"zstd", "lz4"}

    restore(tmp_path / "ours.db", f"file://{replica}")
    assert rows(tmp_path / "ours.db") == rows(db)
    verify = subprocess.run([str(OUR_LITESTREAM), "verify", f"file://{replica}"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr

    go = subprocess.run(
        [str(go_litestream), "restore", "-o", str(tmp_path / "go.db"), f"file://{replica}"],
        capture_output=True, text=True, env=go_env, timeout=120,
    )  # fmt: skip
    assert go.returncode != 0
    assert "invalid flags: 0x00010002" in go.stderr
    assert not (tmp_path / "go.db").exists()


def test_unknown_compression_is_a_config_error_naming_what_to_install(tmp_path):
    db = tmp_path / "app.db"
    config = write_config(tmp_path / "c.yml", db, tmp_path / "r", "brotli")
    proc = subprocess.run([str(OUR_LITESTREAM), "replicate", "-config", str(config), "-once"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(
        f"Error: {config}: line 5, column 7: dbs[0].replica.compression: "
        "unknown compression 'brotli' (installed: "
    )


def test_the_embedding_api_writes_zstd_pages_in_its_replication_process(tmp_path):
    from litestream_core import api

    db, replica = tmp_path / "app.db", tmp_path / "replica"
    insert_rows(db, range(1, 50), wal=True)
    url = f"file://{replica}"
    with api.replicate_in_background(db, url, compression="zstd", compaction=False) as r:
        insert_rows(db, range(50, 80))
        r.wait_for_sync(timeout=30)
    # Levels 0-9: the replica identity (level 10) is always LZ4, readable by anyone.
    codecs = {
        Header.decode(p.read_bytes()[:100]).page_codec for p in replica.glob("ltx/[0-9]/*.ltx")
    }
    assert codecs == {"zstd"}
    api.restore_sync(url, tmp_path / "out.db")
    assert rows(tmp_path / "out.db") == rows(db)
