"""The command line as a user meets it: usage, help, errors, version, no SDK imports.

These run the installed ``litestream`` console script's code in a subprocess, because
exit codes, stdout/stderr and ``sys.modules`` are process-wide facts.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

HEAVY_MODULES = ("boto3", "botocore", "google.cloud", "azure", "paramiko", "asyncssh", "nats",
                 "mcp", "uvicorn", "starlette", "httpx2", "httpx")  # fmt: skip


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "LITESTREAM_STRICT_PLUGINS"}
    environ.update({"LITESTREAM_LOAD_PLUGINS": "", **env})
    return subprocess.run(
        [sys.executable, "-c", "from litestream_core.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["-help"], ["help"]])
def test_help_prints_usage_and_succeeds(args: list[str]) -> None:
    result = run(*args)
    assert result.returncode == 0
    assert "Usage: litestream" in result.stdout
    for command in ("replicate", "restore", "plugins", "version"):
        assert command in result.stdout
    assert result.stderr == ""


def test_bare_litestream_prints_usage_and_fails_like_go() -> None:
    result = run()
    assert result.returncode == 1
    assert "Usage: litestream" in result.stdout


def test_help_for_one_command() -> None:
    result = run("help", "version")
    assert result.returncode == 0
    assert "-verbose" in result.stdout


def test_unknown_command_is_one_error_line() -> None:
    result = run("frobnicate")
    assert result.returncode == 1
    assert result.stderr == "Error: litestream frobnicate: unknown command\n"


def test_bad_option_is_one_error_line() -> None:
    result = run("version", "--no-such-flag")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "--no-such-flag" in lines[0]


@pytest.mark.parametrize("flag", ["-verbose", "--verbose"])
def test_version_verbose_adds_python_and_sqlite(flag: str) -> None:
    import apsw

    result = run("version", flag)
    assert result.returncode == 0
    out = result.stdout
    assert f"Version:        {metadata.version('litestream-core')}\n" in out
    assert platform.python_version() in out
    assert apsw.sqlite_lib_version() in out


def test_version_prints_the_core_version_alone() -> None:
    result = run("version")
    assert result.returncode == 0
    assert result.stdout == metadata.version("litestream-core") + "\n"


def test_strict_plugin_failure_is_one_error_line(tmp_path) -> None:
    info = tmp_path / "bad_strict-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-strict\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[litestream.plugins]\nbadstrict = bad_strict_mod\n")
    (tmp_path / "bad_strict_mod.py").write_text("raise RuntimeError('cannot start')\n")
    result = run(
        "plugins",  # `version` discovers no plugins, so a broken one cannot stop it
        PYTHONPATH=str(tmp_path),
        LITESTREAM_LOAD_PLUGINS="badstrict",
        LITESTREAM_STRICT_PLUGINS="1",
    )
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: plugin 'badstrict' (bad-strict 1.0) failed to load")
    assert "RuntimeError: cannot start" in line


def test_help_and_plugins_import_no_cloud_sdk() -> None:
    """Every installed plugin's entry point is loaded, yet no SDK is imported."""
    script = textwrap.dedent(
        f"""
        import contextlib, io, json, sys
        from litestream_core.cli import main
        loaded = {{}}
        outputs = {{}}
        for args in (["--help"], ["plugins", "--json"], ["version"], ["sync", "--help"]):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    main(args)
                except SystemExit:
                    pass
            outputs[" ".join(args)] = out.getvalue()
            loaded[" ".join(args)] = sorted(
                m for m in sys.modules
                if any(m == h or m.startswith(h + ".") for h in {HEAVY_MODULES!r})
            )
        print("RESULT " + json.dumps(loaded))
        print("PLUGINS " + json.dumps(json.loads(outputs["plugins --json"])))
        """
    )
    environ = dict(os.environ)
    environ.pop("LITESTREAM_LOAD_PLUGINS", None)
    environ.pop("LITESTREAM_STRICT_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environ, timeout=60
    )
    assert result.returncode == 0, result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    loaded = json.loads(line.removeprefix("RESULT "))
    assert loaded == {"--help": [], "plugins --json": [], "version": [], "sync --help": []}
    # The plugins listing really did load the installed entry points.
    [plugins] = [x for x in result.stdout.splitlines() if x.startswith("PLUGINS ")]
    records = json.loads(plugins.removeprefix("PLUGINS "))
    names = {r["name"] for r in records}
    assert {ep.name for ep in metadata.entry_points(group="litestream.plugins")} <= names


@pytest.mark.parametrize("args", [["plugins", "-v"], ["--help"], ["version", "-verbose"]])
def test_a_closed_stdout_stops_quietly_like_a_shell_tool(args: list[str]) -> None:
    """``litestream ... | head`` must not end with Python's broken-pipe errors."""
    environ = {k: v for k, v in os.environ.items() if k != "LITESTREAM_STRICT_PLUGINS"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from litestream_core.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert stderr == ""


def test_out_of_descriptors_says_which_limit_to_raise(capsys: pytest.CaptureFixture[str]) -> None:
    """Thousands of databases in one process run into the open-files limit: the one
    error line says so, instead of a bare "Too many open files" on some path."""
    import errno

    from litestream_core.cli.common import handle_errors

    @handle_errors
    def opening() -> None:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE), "/data/.db-litestream/database-id")

    with pytest.raises(SystemExit) as exited:
        opening()
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("Error: Too many open files: /data/.db-litestream/database-id")
    assert "open-files limit" in err and "LimitNOFILE" in err
