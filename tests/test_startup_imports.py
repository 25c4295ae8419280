"""What start-up imports: mechanisms behind a quick `litestream` (timings are in
bench/startup.py, never in tests).

`litestream version` needs neither plugins nor the event loop; `--help` and importing
the embedding API need neither APSW nor the WAL checksum kernel (replication does, in
its own process); no command but the one that needs a backend imports its SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE_NATIVE = {"apsw", "litestream_wal_checksum"}
SDKS = {"boto3", "botocore", "google", "azure", "paramiko", "nats"}

RUN_CLI = """
import json, sys
out, sys.argv = sys.argv[1], ["litestream", *sys.argv[2:]]
try:
    from litestream_core.cli import main
    main()
except SystemExit:
    pass
finally:
    open(out, "w").write(json.dumps(sorted(sys.modules)))
"""


def modules_after(tmp_path: Path, *code_or_args: str, cli: bool = True) -> set[str]:
    out = tmp_path / "modules.json"
    if cli:
        argv = [sys.executable, "-c", RUN_CLI, str(out), *code_or_args]
    else:
        (code,) = code_or_args
        argv = [sys.executable, "-c", f"{code}\nimport sys, json\n"
                f"open({str(out)!r}, 'w').write(json.dumps(sorted(sys.modules)))"]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return {m.split(".")[0] for m in json.loads(out.read_text())} | set(json.loads(out.read_text()))


def test_version_loads_no_plugins_and_no_event_loop(tmp_path: Path) -> None:
    loaded = modules_after(tmp_path, "version")
    assert not loaded & {"litestream_core.plugins", "asyncio", "importlib.metadata", "pluggy"}
    assert not loaded & (ENGINE_NATIVE | SDKS)


@pytest.mark.parametrize("args", [("--help",), ("restore", "--help"), ("replicate", "--help")])
def test_help_loads_no_engine_natives_and_no_sdk(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert not modules_after(tmp_path, *args) & (ENGINE_NATIVE | SDKS)


def test_importing_the_api_loads_no_engine_natives(tmp_path: Path) -> None:
    loaded = modules_after(tmp_path, "import litestream_core.api", cli=False)
    assert "litestream_core.api" in loaded
    assert not loaded & (ENGINE_NATIVE | SDKS)
