"""Interop with Go Litestream 0.5.17 over the same moto S3 server.

Go replicates a database and our client lists and reads its files (names, sizes, bytes,
exact header timestamps from its metadata); files our client writes are restored by Go,
byte for byte, including a point-in-time restore that only works if Go reads our
timestamp metadata.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from litestream_s3.client import METADATA_KEY

from litestream_core.backend_support.timestamps import format_timestamp, ms_to_datetime
from litestream_core.client import SNAPSHOT_LEVEL
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Header, decode_file, encode_file
from litestream_core.plugins import make_replica_client
from litestream_core.testing.e2e import insert_rows, rows
from litestream_core.testing.ltxgen import database_pages

pytestmark = pytest.mark.anyio


def run_go(go: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(go), *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"litestream {args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


async def test_go_replica_is_read_with_exact_timestamps(
    moto, go_litestream, go_env, tmp_path, anyio_backend
):
    bucket = moto.make_bucket()
    db_path = tmp_path / "app.db"
    insert_rows(db_path, range(0, 50), wal=True)
    config = tmp_path / "litestream.yml"
    config.write_text(
        f"dbs:\n  - path: {db_path}\n    replica:\n      type: s3\n"
        f"      bucket: {bucket}\n      path: app\n      endpoint: {moto.endpoint}\n"
        "      sync-interval: 100ms\n"
    )
    go = subprocess.Popen(
        [str(go_litestream), "replicate", "-config", str(config)],
        env=go_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = make_replica_client(f"s3://{bucket}/app", moto.options())

    async def wait_for_txid(txid: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            l0 = [i async for i in client.ltx_files(0)]
            if l0 and max(i.max_txid for i in l0) >= txid:
                return
            time.sleep(0.1)
        pytest.fail(f"Go did not replicate TXID {txid} to moto in 30 s")

    try:
        await wait_for_txid(1)
        for txid in (2, 3, 4):
            insert_rows(db_path, range(100 * txid, 100 * txid + 10), wal=True)
            await wait_for_txid(txid)
    finally:
        go.terminate()
        output = go.communicate(timeout=30)[0]
    assert "ERROR" not in output, output

    raw = moto.boto3_client()
    keys = {o["Key"] for o in raw.list_objects_v2(Bucket=bucket, Prefix="app/")["Contents"]}
    for level in (0, SNAPSHOT_LEVEL):
        infos = [i async for i in client.ltx_files(level, use_metadata=True)]
        assert infos, f"no files at level {level}"
        for info in infos:
            key = f"app/{level:04x}/{info.name}"
            assert key in keys  # Go's layout: level as four hex digits, no ltx/ segment
            stream = await client.open_ltx_file(level, info.min_txid, info.max_txid)
            async with stream:
                data = await stream.readall()
            assert len(data) == info.size
            header, _, _ = decode_file(data)  # verifies every checksum
            assert (header.min_txid, header.max_txid) == (info.min_txid, info.max_txid)
            assert info.created_at == ms_to_datetime(header.timestamp)
            stored = raw.head_object(Bucket=bucket, Key=key)["Metadata"][METADATA_KEY]
            assert stored == format_timestamp(header.timestamp)
    await client.close()

    # And our CLI restores Go's replica to the source database's contents.
    out = tmp_path / "restored.db"
    url = f"s3://{bucket}/app?endpoint={moto.endpoint}"
    ours = Path(sys.executable).with_name("litestream")
    proc = subprocess.run(
        [str(ours), "restore", "-o", str(out), url],
        env=go_env,  # moto's keys in AWS_*, which boto3's default chain reads
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert rows(out) == rows(db_path)


def ltx_for(pages, *, min_txid, max_txid, timestamp_ms, page_size, commit=None):
    """An LTX file as Go 0.5 writes them: no-checksum flag, zero checksums.

    Go's restore rejects a file whose trailer carries a post-apply checksum.
    """
    header = Header(
        page_size=page_size,
        commit=commit or max(p for p, _ in pages),
        min_txid=min_txid,
        max_txid=max_txid,
        timestamp=timestamp_ms,
        flags=HEADER_FLAG_NO_CHECKSUM,
    )
    return encode_file(header, pages, 0)


async def test_go_restores_what_we_write(moto, go_litestream, go_env, tmp_path, anyio_backend):
    """A snapshot and an incremental file from us; Go restores them exactly.

    Go bounds ``-timestamp`` by the objects' storage times, then picks files by the header
    times it reads from our metadata. Both header times here are before either upload,
    and the restore time falls between the two uploads: Go takes the incremental file
    only if it read the header time from our metadata (its storage time is later).
    """
    bucket = moto.make_bucket()
    v1, v2 = tmp_path / "v1.db", tmp_path / "v2.db"
    insert_rows(v1, range(0, 200))
    v2.write_bytes(v1.read_bytes())
    insert_rows(v2, range(1000, 1300))
    page_size, pages1 = database_pages(v1)
    _, pages2 = database_pages(v2)
    old = dict(pages1)
    changed = [(p, d) for p, d in pages2 if old.get(p) != d]
    now_ms = int(time.time() * 1000)
    t1, t2 = now_ms - 60_000, now_ms - 30_000
    snapshot = ltx_for(pages1, min_txid=1, max_txid=1, timestamp_ms=t1, page_size=page_size)
    incremental = ltx_for(
        changed, min_txid=2, max_txid=2, timestamp_ms=t2, page_size=page_size, commit=len(pages2)
    )

    client = make_replica_client(f"s3://{bucket}/mine", moto.options())
    await client.write_ltx_file(SNAPSHOT_LEVEL, 1, 1, snapshot)
    await client.write_ltx_file(0, 1, 1, snapshot)
    time.sleep(1.2)  # storage times (whole seconds) of the two uploads must differ
    await client.write_ltx_file(0, 2, 2, incremental)
    stored = [i async for i in client.ltx_files(0)]
    await client.close()

    url = f"s3://{bucket}/mine?endpoint={moto.endpoint}&region=us-east-1"
    latest, at_time = tmp_path / "latest.db", tmp_path / "at-time.db"
    run_go(go_litestream, go_env, "restore", "-o", str(latest), url)
    assert latest.read_bytes() == v2.read_bytes()
    first_upload = min(i.created_at for i in stored)
    between = (first_upload + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_go(go_litestream, go_env, "restore", "-timestamp", between, "-o", str(at_time), url)
    assert at_time.read_bytes() == v2.read_bytes()


async def test_go_reads_our_multipart_upload(moto, go_litestream, go_env, tmp_path, anyio_backend):
    """A snapshot larger than the part size goes up in parts; Go restores it intact."""
    bucket = moto.make_bucket()
    db_path = tmp_path / "big.db"
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE t (b BLOB)")
    db.executemany("INSERT INTO t VALUES (randomblob(3000))", [()] * 4000)  # ~12 MiB
    db.commit()
    db.close()
    page_size, pages = database_pages(db_path)
    data = ltx_for(
        pages, min_txid=1, max_txid=1, timestamp_ms=1_700_000_000_000, page_size=page_size
    )
    part_size = 5 * 1024 * 1024
    assert len(data) > 2 * part_size

    client = make_replica_client(f"s3://{bucket}/big", moto.options(**{"part-size": "5MiB"}))

    async def chunks():
        for i in range(0, len(data), 1 << 20):
            yield data[i : i + (1 << 20)]

    info = await client.write_ltx_file(SNAPSHOT_LEVEL, 1, 1, chunks())
    await client.close()
    assert info.size == len(data)
    head = moto.boto3_client().head_object(Bucket=bucket, Key=f"big/0009/{info.name}")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 MiB, 5 MiB, the rest

    out = tmp_path / "restored.db"
    url = f"s3://{bucket}/big?endpoint={moto.endpoint}"
    run_go(go_litestream, go_env, "restore", "-o", str(out), url)
    assert out.read_bytes() == db_path.read_bytes()
