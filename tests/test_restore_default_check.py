"""The CLI and the embedding API share one ``-integrity-check`` default: none, as in Go,
because ``quick_check`` costs more than a tenth of a restore (bench/integrity_check.py).
Asked for, the check keeps a file SQLite rejects from being put in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from litestream_core import api
from litestream_core.engine.integrity import DEFAULT_INTEGRITY_CHECK
from litestream_core.errors import RestoreError
from litestream_core.ltx import HEADER_FLAG_NO_CHECKSUM, Header, encode_file

OURS = Path(sys.executable).with_name("litestream")


@pytest.fixture
def not_a_database(tmp_path: Path) -> Path:
    """A file replica whose only file is a valid, complete LTX snapshot of pages that are
    not a SQLite database: every chain check passes, only SQLite can tell."""
    replica = tmp_path / "replica"
    level0 = replica / "ltx" / "0"
    level0.mkdir(parents=True)
    header = Header(page_size=4096, commit=2, min_txid=1, max_txid=1,
                    timestamp=1_700_000_000_000, flags=HEADER_FLAG_NO_CHECKSUM)  # fmt: skip
    data = encode_file(header, [(1, b"\x01" * 4096), (2, b"\x02" * 4096)], 0)
    (level0 / f"{1:016x}-{1:016x}.ltx").write_bytes(data)
    return replica


def test_cli_default_is_the_shared_one(not_a_database: Path, tmp_path: Path) -> None:
    url = f"file://{not_a_database}"
    out = tmp_path / "cli.db"
    result = subprocess.run(
        [str(OURS), "restore", "-o", str(out), url], capture_output=True, text=True
    )
    assert (result.returncode == 0) == (DEFAULT_INTEGRITY_CHECK == "none"), result.stderr
    checked = tmp_path / "checked.db"
    result = subprocess.run(
        [str(OURS), "restore", "-integrity-check", "quick", "-o", str(checked), url],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1 and "integrity check failed" in result.stderr
    assert not checked.exists()


def test_api_default_is_the_shared_one(not_a_database: Path, tmp_path: Path) -> None:
    url = f"file://{not_a_database}"
    out = tmp_path / "api.db"
    if DEFAULT_INTEGRITY_CHECK == "none":
        api.restore_sync(url, out)
        assert out.exists()
    else:
        with pytest.raises(RestoreError, match="integrity check failed"):
            api.restore_sync(url, out)
    checked = tmp_path / "checked.db"
    with pytest.raises(RestoreError, match="integrity check failed"):
        api.restore_sync(url, checked, integrity_check="quick")
    assert not checked.exists()
