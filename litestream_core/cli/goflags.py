"""Go's flag syntax on top of click's parser.

Go Litestream users type ``-o=PATH``, ``-force=false``, ``--json`` and ``-config PATH``;
Go's ``flag`` package accepts all of these, and rejects a flag it does not know. Click
alone would read ``-output`` as ``-o`` with the value ``utput`` (POSIX short-option
gluing) and ``-o=PATH`` as a file named ``=PATH``. Every command's arguments are
therefore rewritten into click's canonical spellings before click parses them, using
the command's own declared options, so a mistyped flag is an error naming it, as in Go.
"""

from __future__ import annotations

import click

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
"""The spellings Go's ``strconv.ParseBool`` accepts."""

_HELP = frozenset({"h", "help"})


def _options(command: click.Command) -> dict[str, click.Option]:
    """Each declared option under every name it answers to, without dashes."""
    found: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for spelling in (*param.opts, *param.secondary_opts):
                found.setdefault(spelling.lstrip("-"), param)
    return found


def _canonical(option: click.Option) -> str:
    """The spelling click parses unambiguously: the long form when there is one."""
    return next((o for o in option.opts if o.startswith("--")), option.opts[0])


def go_args(command: click.Command, args: list[str]) -> list[str]:
    """``args`` rewritten so click reads them as Go's flag package would.

    Raises click.UsageError with Go's wording for an unknown flag, a bad boolean, or a
    flag missing its value.
    """
    options = _options(command)
    out: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            out.append(arg)
            out.extend(rest)
            break
        if not arg.startswith("-") or arg == "-":
            out.append(arg)
            continue
        typed, has_value, value = arg.partition("=")
        name = typed.lstrip("-")
        if name in _HELP and not has_value and name not in options:
            out.append("--help")
            continue
        option = options.get(name)
        if option is None:
            raise click.UsageError(f"flag provided but not defined: {typed}")
        flag = _canonical(option)
        if option.is_flag and not option.count:
            if not has_value or value in _GO_TRUE:
                out.append(flag)
            elif value in _GO_FALSE:
                out.extend(option.secondary_opts[:1])  # a --no-x form; otherwise the default
            else:
                raise click.UsageError(f'invalid boolean value "{value}" for {typed}: parse error')
            continue
        if has_value:
            out.extend((flag, value))
            continue
        following = next(rest, None)
        if following is None:
            raise click.UsageError(f"flag needs an argument: {typed}")
        out.extend((flag, following))
    return out
