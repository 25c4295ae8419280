"""Which temporary upload files count as abandoned (``backend_support.tempfiles``)."""

from __future__ import annotations

import os
import subprocess
import sys

from litestream_core.backend_support import tempfiles
from litestream_core.backend_support.tempfiles import is_stale, is_temp_name, temp_name

LTX = "0000000000000001-0000000000000002.ltx"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_names_are_hidden_unique_and_recognised() -> None:
    a, b = temp_name(LTX), temp_name(LTX)
    assert a != b and a.startswith(f".{LTX}.") and a.endswith(".tmp")
    assert is_temp_name(a)
    for other in (f"{LTX}.tmp", f".{LTX}.k3j_x9.tmp", f"{LTX}.1234.1700000000000.tmp"):
        assert is_temp_name(other)  # Go's, and this project's earlier names
    for not_ours in (LTX, "notes.tmp", ".tmp", f"{LTX}.bak", "x/" + f"{LTX}.tmp"):
        assert not is_temp_name(not_ours)


def test_a_file_of_this_process_is_kept_until_it_is_old() -> None:
    name = temp_name(LTX)
    assert not is_stale(name, age=60, max_age=900)
    assert is_stale(name, age=900, max_age=900)


def test_a_file_whose_writer_on_this_host_is_gone_is_stale_at_once() -> None:
    name = f".{LTX}.{tempfiles._HOST}~{dead_pid()}.abcdef.tmp"
    assert is_stale(name, age=0, max_age=900)
    alive = f".{LTX}.{tempfiles._HOST}~{os.getppid()}.abcdef.tmp"
    assert not is_stale(alive, age=0, max_age=900)


def test_another_hosts_or_gos_file_waits_for_the_age_bound() -> None:
    for name in (f".{LTX}.elsewhere~{dead_pid()}.abcdef.tmp", f"{LTX}.tmp"):
        assert not is_stale(name, age=899, max_age=900)
        assert is_stale(name, age=900, max_age=900)


def test_other_files_are_never_stale() -> None:
    assert not is_stale("notes.tmp", age=10**9)
    assert not is_stale(LTX, age=10**9)
