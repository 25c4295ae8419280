"""Shell completion through click, as the README tells users to set it up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LITESTREAM = str(Path(sys.executable).with_name("litestream"))


def complete(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LITESTREAM], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "_litestream_completion()"), ("zsh", "#compdef litestream"), ("fish", "complete")],
)
def test_each_shell_gets_a_script(shell: str, marker: str) -> None:
    result = complete({"_LITESTREAM_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout and "_LITESTREAM_COMPLETE" in result.stdout


def bash_words(words: str) -> list[str]:
    """What bash completion offers after ``words`` (the word being typed is last)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_LITESTREAM_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = complete(env)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_commands_complete_without_printing_usage() -> None:
    offered = bash_words("litestream re")
    assert {"replicate", "reset", "restore"} <= set(offered)
    assert all(w.startswith("re") for w in offered)
    offered = bash_words("litestream ")
    assert {"replicate", "restore", "version", "plugins"} <= set(offered)
    assert not any(w.startswith("Usage") for w in offered)


def test_flags_of_a_lazy_command_complete() -> None:
    assert {"-o", "-txid", "--timestamp"} <= set(bash_words("litestream restore -"))


def test_an_unknown_command_offers_nothing_and_no_error() -> None:
    assert bash_words("litestream bogus x") == []
