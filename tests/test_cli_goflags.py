"""Go's flag syntax, rewritten for click: what Go accepts works, what Go refuses fails."""

from __future__ import annotations

import click
import pytest

from litestream_core.cli.goflags import go_args


@click.command()
@click.option("-o", "--o", "output")
@click.option("-config", "--config", "config")
@click.option("-force", "--force", is_flag=True)
@click.option("-sync", "--sync/--no-sync", default=True)
@click.argument("source")
def sample(output: str, config: str, force: bool, sync: bool, source: str) -> None:
    """A command shaped like ours: Go-style long flags, a short one, a positional."""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-o", "p", "src"], ["--o", "p", "src"]),
        (["-o=p", "src"], ["--o", "p", "src"]),
        (["--o=p", "src"], ["--o", "p", "src"]),
        (["-config", "c.yml", "src"], ["--config", "c.yml", "src"]),
        (["-config=a=b", "src"], ["--config", "a=b", "src"]),
        (["-force", "src"], ["--force", "src"]),
        (["-force=true", "src"], ["--force", "src"]),
        (["-force=T", "src"], ["--force", "src"]),
        (["-force=false", "src"], ["src"]),
        (["-sync=false", "src"], ["--no-sync", "src"]),
        (["src", "-o", "p"], ["src", "--o", "p"]),
        (["-o", "-dash-value", "src"], ["--o", "-dash-value", "src"]),
        (["--", "-o"], ["--", "-o"]),
        (["-h"], ["--help"]),
        (["-help"], ["--help"]),
    ],
)
def test_go_spellings_become_click_spellings(args, expected):
    assert go_args(sample, args) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-output", "p", "src"], "flag provided but not defined: -output"),
        (["--bogus", "src"], "flag provided but not defined: --bogus"),
        (["-of", "src"], "flag provided but not defined: -of"),
        (["-force=maybe", "src"], 'invalid boolean value "maybe" for -force: parse error'),
        (["src", "-o"], "flag needs an argument: -o"),
    ],
)
def test_what_go_refuses_is_an_error_naming_the_flag(args, message):
    with pytest.raises(click.UsageError) as info:
        go_args(sample, args)
    assert info.value.format_message() == message


@pytest.mark.parametrize("flags", [["-o=out.db"], ["-o", "out.db"]])
def test_the_rewritten_arguments_parse(flags):
    with sample.make_context("sample", go_args(sample, [*flags, "-force", "src"])) as ctx:
        assert ctx.params["output"] == "out.db" and ctx.params["force"] is True
        assert ctx.params["sync"] is True and ctx.params["source"] == "src"
