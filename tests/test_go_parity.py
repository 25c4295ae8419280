"""docs/go-parity.md against the Go binary and our code, so the page cannot drift.

Go's side comes from the 0.5.17 binary itself: its commands from ``litestream -h``,
each command's flags from ``litestream CMD -h``, its config keys from the ``yaml:"..."``
struct tags compiled into it (checked against ``docs/go-config-keys.txt``, which adds
where each key goes and Go's defaults). Our side is asked, not assumed: a flag marked
supported must be parsed by our click command through ``goflags``, one marked not
supported must be refused; a config key marked supported must load without a warning,
one marked not supported must be warned about or refused. The README's list of
differences must name every row the page marks not supported.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from litestream_core.cli import COMMANDS, DEPRECATED_ALIASES
from litestream_core.cli.goflags import go_args
from litestream_core.config import DEFAULT_CONFIG_PATH, parse_config
from litestream_core.errors import ConfigError
from litestream_core.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "go-parity.md"
KEYS_FILE = ROOT / "docs" / "go-config-keys.txt"
README = ROOT / "README.md"
STATUSES = ("supported", "differs", "not supported")
HIDDEN_GO_COMMANDS = {"wal"}
"""Commands Go runs but does not list in its help (``wal``: the deprecated ``ltx``)."""

# -- Go's side ---------------------------------------------------------------------------


# -- Go's side and the page ------------------------------------------------------------


@dataclass(frozen=True)
class GoKey:
    scope: str
    key: str
    example: str
    default: str


_TOKEN = re.compile(r'"[^"]*"|\[[^\]]*\]|\{[^}]*\}|\S+')


def go_config_keys() -> list[GoKey]:
    """The rows of docs/go-config-keys.txt."""
    keys = []
    for line in KEYS_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        scope, key, rest = line.split(None, 2)
        match = _TOKEN.match(rest)
        assert match, line
        keys.append(GoKey(scope, key, match[0], rest[match.end() :].strip()))
    return keys


def binary_yaml_tags(go: Path) -> set[str]:
    """The YAML key names compiled into the Go binary (its struct tags)."""
    tags = set(re.findall(rb'yaml:"([a-z][a-z0-9-]*)"', go.read_bytes()))
    return {t.decode() for t in tags}


@functools.cache
def go_help(go: Path, *args: str) -> str:
    proc = subprocess.run([str(go), *args, "-h"], capture_output=True, text=True, timeout=30)
    return proc.stdout + proc.stderr


def go_commands(go: Path) -> list[str]:
    text = go_help(go).split("The commands are:", 1)[1]
    return re.findall(r"^\t(\w+)\s{2,}", text, re.MULTILINE)


_FLAG_LINE = re.compile(r"^\s+-([a-z][\w-]*)(?: +([A-Z_]+))?\s*$", re.MULTILINE)


def go_flags(go: Path, command: str) -> dict[str, bool]:
    """Each flag ``command -h`` lists, and whether it takes a value."""
    return {name: bool(value) for name, value in _FLAG_LINE.findall(go_help(go, command))}


# -- The page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    section: str
    cells: tuple[str, ...]

    @property
    def status(self) -> str:
        return self.cells[-2]

    @property
    def notes(self) -> str:
        return self.cells[-1]


def page_rows(text: str) -> Iterator[Row]:
    """The body rows of every table, with the ``## `` heading above it."""
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("|") and not re.fullmatch(r"\|[-| :]+\|", line):
            cells = tuple(c.strip() for c in line.strip().strip("|").split("|"))
            if cells[0] in ("command", "scope", "variable"):
                continue  # a header row
            yield Row(section, (*(c.replace("`", "") for c in cells[:-1]), cells[-1]))


def rows(section: str) -> list[Row]:
    return [r for r in page_rows(PAGE.read_text()) if r.section == section]


# -- Our side ----------------------------------------------------------------------------


def our_command(name: str) -> click.Command | None:
    name = DEPRECATED_ALIASES.get(name, name)
    if name not in COMMANDS:
        return None
    command: click.Command = importlib.import_module(COMMANDS[name][0]).command
    return command


def parses(command: click.Command, flag: str, takes_value: bool) -> bool:
    try:
        go_args(command, [f"-{flag}", *(["x"] if takes_value else [])])
    except click.UsageError:
        return False
    return True


_DIR_KEYS = {"dir", "pattern", "recursive", "watch", "meta-dir"}


def config_text(k: GoKey, root: Path) -> str:
    """A config Go starts that holds ``k`` where it goes (the rest as small as can be)."""
    top: list[str] = []
    db = [f"path: {root / 'app.db'}"]
    replica = [f"path: {root / 'replica'}"]
    line = f"{k.key}: {k.example}"
    if k.scope == "top":
        top += [line] if k.example != "-" else []
    elif k.scope == "levels":
        top += ["levels:", f"  - {line}"]
    elif k.scope in ("socket", "logging", "snapshot", "validation", "retention"):
        top += [f"{k.scope}:", f"  {line}"]
    elif k.scope == "db":
        if k.key in _DIR_KEYS:
            db = [f"dir: {root / 'dbs'}"] + ([] if k.key == "pattern" else ['pattern: "*.db"'])
        if k.example != "-":
            db.append(line)
    elif k.scope == "db.snapshot":
        db += ["snapshot:", f"  {line}"]
    elif k.scope == "replica.age" or (k.scope, k.key) == ("replica", "age"):
        replica += _age_block(root)
    elif k.scope == "replica":
        if k.key == "url":
            replica = [f"url: file://{root / 'replica'}"]
        elif k.example != "-":
            replica.append(line)
    else:  # a backend's key, in a replica of that backend
        replica = [f"type: {k.scope}", "path: db", line]
    text = "\n".join([*top, "dbs:", "  - " + db[0], *("    " + d for d in db[1:])])
    if k.scope == "db" and k.key == "replicas":
        return (
            text
            + "\n    replicas:\n"
            + "".join(
                ("      - " if i == 0 else "        ") + r + "\n" for i, r in enumerate(replica)
            )
        )
    return text + "\n    replica:\n" + "".join(f"      {r}\n" for r in replica)


@functools.cache
def _plugin_manager() -> Any:
    return get_plugin_manager()


def _age_block(root: Path) -> list[str]:
    """An ``age:`` block with a real key pair in place of Go's examples: ours reads the
    identity files and refuses recipients that no identity opens (replicate reads its
    files back)."""
    from litestream_core.encryption.keys import Identity

    key = Identity.generate()
    root.mkdir(parents=True, exist_ok=True)
    (root / "identity.txt").write_text(key.secret_text() + "\n")
    return ["age:", f"  recipients: [{key.recipient}]", f"  identities: [{root / 'identity.txt'}]"]


def probe_key(k: GoKey, root: Path) -> str:
    """``accepted`` (no warning), ``warned`` or ``refused``: what our config parser does."""
    (root / "dbs").mkdir(parents=True, exist_ok=True)
    try:
        config = parse_config(
            config_text(k, root), source="parity.yml", expand=False, pm=_plugin_manager()
        )
    except ConfigError as exc:
        return "refused", str(exc)
    return ("warned" if config.warnings else "accepted"), "\n".join(config.warnings)


# -- The tests ---------------------------------------------------------------------------


def test_key_list_is_exactly_the_binarys_yaml_tags(go_litestream: Path) -> None:
    listed = {k.key for k in go_config_keys()}
    compiled = binary_yaml_tags(go_litestream)
    assert compiled - listed == set(), "Go keys missing from docs/go-config-keys.txt"
    assert listed - compiled == set(), "keys in docs/go-config-keys.txt that Go does not have"


def test_every_go_command_has_one_row_with_the_truth(go_litestream: Path) -> None:
    page = {r.cells[0]: r for r in rows("Commands")}
    for name in [*go_commands(go_litestream), *HIDDEN_GO_COMMANDS]:
        assert name in page, f"Go's command {name} is not in docs/go-parity.md"
    for name, row in page.items():
        assert "unknown command" not in go_help(go_litestream, name), f"Go has no {name}"
        assert row.status in STATUSES, row
        ours = our_command(name) is not None
        assert ours == (row.status != "not supported"), f"{name}: page says {row.status}"
        if row.status == "differs":
            assert row.notes, f"{name}: say how it differs"


def test_every_go_flag_has_one_row_and_our_cli_does_what_it_says(go_litestream: Path) -> None:
    page = {(r.cells[0], r.cells[1].lstrip("-")): r for r in rows("Flags")}
    seen = set()
    for command in [*go_commands(go_litestream), *HIDDEN_GO_COMMANDS]:
        ours = our_command(command)
        for flag, takes_value in go_flags(go_litestream, command).items():
            row = page.get((command, flag))
            assert row is not None, f"Go's {command} -{flag} is not in docs/go-parity.md"
            seen.add((command, flag))
            assert row.status in STATUSES, row
            accepted = ours is not None and parses(ours, flag, takes_value)
            if row.status == "not supported":
                assert not accepted, f"{command} -{flag}: the page says not supported; we parse it"
            else:
                assert accepted, f"{command} -{flag}: the page says {row.status}; we refuse it"
            if row.status == "differs":
                assert row.notes, f"{command} -{flag}: say how it differs"
    assert set(page) - seen == set(), "rows for flags Go does not list"


_GO_DEFAULT = re.compile(r"(?:Defaults to |\(default: )(\d+\w*|/[\w./-]+|true|false|none)\b")


def go_flag_defaults(go: Path, command: str) -> dict[str, str]:
    """The default each flag's description in ``command -h`` states, where it states one."""
    found: dict[str, str] = {}
    flag = None
    for line in go_help(go, command).splitlines():
        if m := _FLAG_LINE.match(line):
            flag = m[1]
        elif not line.strip():
            continue
        elif flag and (d := _GO_DEFAULT.search(line)):
            found[flag] = d[1]
    return found


def _our_default(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_go_flag_defaults_are_ours_unless_the_page_says_they_differ(go_litestream: Path) -> None:
    page = {(r.cells[0], r.cells[1].lstrip("-")): r for r in rows("Flags")}
    compared = 0
    for command in go_commands(go_litestream):
        ours = our_command(command)
        assert ours is not None
        options = {o.lstrip("-"): p for p in ours.params for o in p.opts}
        for flag, default in go_flag_defaults(go_litestream, command).items():
            param = options[flag]
            if flag == "config":  # resolved at run time: $LITESTREAM_CONFIG, then this
                assert default == DEFAULT_CONFIG_PATH
                continue  # resolved at run time (-config: $LITESTREAM_CONFIG, then Go's path)
            compared += 1
            with ours.make_context(command, [], resilient_parsing=True) as ctx:
                value = param.get_default(ctx)
            if _our_default(value) != default:
                assert page[(command, flag)].status == "differs", (
                    f"{command} -{flag}: Go's default {default}, ours {value}"
                )
    assert compared >= 15  # the runtime commands' -socket and -timeout, restore's, ...


def test_our_commands_and_flags_beyond_go_are_listed(go_litestream: Path) -> None:
    listed = {(r.cells[0], r.cells[1].lstrip("-")) for r in rows("Beyond Go")}
    go = set(go_commands(go_litestream))
    for name in COMMANDS:
        if name not in go:
            assert (name, "") in listed, f"our command {name} is not under 'Beyond Go'"
            continue
        command = our_command(name)
        assert command is not None
        go_names = set(go_flags(go_litestream, name))
        for param in command.params:
            names = {s.lstrip("-") for s in param.opts} - {"help"}
            if isinstance(param, click.Option) and names and not names & go_names:
                assert any((name, n) in listed for n in names), (
                    f"our {name} {sorted(param.opts)} is not under 'Beyond Go'"
                )


def test_every_go_config_key_has_one_row_and_our_parser_does_what_it_says(
    tmp_path: Path,
) -> None:
    page = {(r.cells[0], r.cells[1]): r for r in rows("Config keys")}
    keys = go_config_keys()
    assert set(page) == {(k.scope, k.key) for k in keys}, "rows differ from go-config-keys.txt"
    for k in keys:
        row = page[(k.scope, k.key)]
        assert row.status in STATUSES, row
        got, said = probe_key(k, tmp_path / f"{k.scope}-{k.key}")
        expected = {
            "supported": {"accepted"},
            "differs": {"accepted", "warned"},
            "not supported": {"warned", "refused"},
        }[row.status]
        assert got in expected, f"{k.scope} {k.key}: the page says {row.status}; we {got}: {said}"
        if row.status == "not supported":  # refused for the key, not for a bad example
            assert k.key in said, f"{k.scope} {k.key}: {got} without naming it: {said}"
        if row.status != "supported":
            assert row.notes, f"{k.scope} {k.key}: say what differs"


def _read_by_us(name: str) -> bool:
    """Whether our code (the core or a first-party backend) reads ``name`` by its name."""
    sources = [*(ROOT / "litestream_core").rglob("*.py"), *ROOT.glob("plugins/*/litestream_*/*.py")]
    literal = re.compile(rf"[\"']{re.escape(name)}[\"']")
    return any(literal.search(path.read_text()) for path in sources)


def test_every_go_environment_variable_has_a_row_and_our_code_does_what_it_says(
    go_litestream: Path,
) -> None:
    page = {r.cells[0]: r for r in rows("Environment variables")}
    binary = go_litestream.read_bytes()
    for name in page:
        assert name.encode() in binary, f"Go does not read {name}"
    # Go's strings are not NUL-terminated: a name found in the binary may run on.
    for found in set(re.findall(rb"LITESTREAM_[A-Z0-9_]+", binary)):
        assert any(found.decode().startswith(name) for name in page), f"{found!r} has no row"
    for name, row in page.items():
        assert row.status in STATUSES, row
        read = _read_by_us(name)
        assert read == (row.status != "not supported"), f"{name}: page says {row.status}"


def _readme_differences() -> str:
    text = README.read_text()
    start = text.index("## Where we differ from Go Litestream")
    end = text.find("\n## ", start + 3)
    return text[start : end if end != -1 else None]


def test_readme_differences_name_what_the_page_does_not_support() -> None:
    section = _readme_differences()
    assert "docs/go-parity.md" in section, "the README's differences must link the page"
    missing = []
    for section_name in ("Commands", "Flags", "Config keys", "Environment variables"):
        for row in rows(section_name):
            if row.status == "not supported":
                name = row.cells[1] if section_name in ("Flags", "Config keys") else row.cells[0]
                if section_name == "Flags":
                    name = "-" + name.lstrip("-")
                if not re.search(rf"[`.]{re.escape(name)}(?![\w-])", section):
                    missing.append(f"{section_name}: {' '.join(row.cells[:-2])}")
    assert not missing, f"not supported on the page, not named in the README: {missing}"


def test_readme_differences_name_only_flags_the_page_marks_as_differing() -> None:
    """A Go flag the README's differences name (`-exec`, `restore -timestamp`) is one the
    page marks as differing or not supported, so the two tell the same story."""
    flags = rows("Flags")
    for command, flag in re.findall(r"`(?:(\w+)\s+)?(-[a-z][\w-]*)`", _readme_differences()):
        matching = [r for r in flags if r.cells[1] == flag and command in ("", r.cells[0])]
        if matching:  # `-wal` names a file, not a flag
            statuses = {r.status for r in matching}
            assert statuses - {"supported"}, f"README names {command} {flag}; the page: {statuses}"


@pytest.mark.parametrize("status", STATUSES)
def test_the_page_explains_each_status(status: str) -> None:
    assert f"**{status}**" in PAGE.read_text()


# -- docs/config-reference.md, generated -------------------------------------------------

REFERENCE = ROOT / "docs" / "config-reference.md"
REGENERATE = "LITESTREAM_UPDATE_DOCS=1 uv run pytest tests/test_go_parity.py -k reference"


def _duration(seconds: float) -> str:
    """Seconds as Go writes a duration (``5m``, ``500ms``, ``24h``)."""
    if seconds == 0:
        return "0s"
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def _shown(info: Any, value: Any) -> str:
    if value is None or value == "" or value == ():
        return ""
    if info.setting.gt is not None and value <= info.setting.gt:
        return "(required)"  # the declared default is only a placeholder
    if info.key == "permissions":
        return f"`{value:04o}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if info.type == "duration":
        return f"`{_duration(float(value))}`"
    if info.type == "byte size" and value and value % (1 << 20) == 0:
        return f"`{value >> 20}MiB`"
    return f"`{value}`"


def _engine_default(attr: str) -> Any:
    """What the engine uses when the config leaves a key unset (Go's defaults)."""
    from litestream_core.engine.dbtypes import DBSettings
    from litestream_core.engine.replica import ReplicaSettings

    for settings in (DBSettings, ReplicaSettings):
        found = {f.name: f for f in dataclasses.fields(settings)}
        if attr in found and found[attr].default is not dataclasses.MISSING:
            return found[attr].default
    return None


def _reference_sections() -> list[tuple[str, str, Any]]:
    from litestream_core import config as c
    from litestream_core.encryption.settings import AgeSettings
    from litestream_core.plugins import FIRST_PARTY_SCHEMES, replica_client_registry

    sections: list[tuple[str, str, Any]] = [
        ("The top level", "top", c._GlobalKeys),
        ("`socket:`", "socket", c.SocketConfig),
        ("`logging:`", "logging", c.LoggingConfig),
        ("`levels:` (each item: L1, L2, ...)", "levels", c._LevelKeys),
        ("`snapshot:`", "snapshot", c._SnapshotKeys),
        ("`validation:`", "validation", c._ValidationKeys),
        ("`retention:`", "retention", c._RetentionKeys),
        ("`lease:` (beyond Go: [one writer per replica path](lease.md))", "lease", c.LeaseConfig),
        ("A `dbs:` entry", "db", c._DBKeys),
        ("A `dbs:` entry's `snapshot:`", "db.snapshot", c._DBSnapshotKeys),
        ("A replica block, whatever its backend", "replica", c._ReplicaKeys),
        ("A replica's `age:` block ([encryption](encryption.md))", "replica.age", AgeSettings),
    ]
    registry = replica_client_registry(get_plugin_manager())
    schemes: dict[Any, list[str]] = {}  # one section per settings class (webdav, webdavs)
    for scheme in sorted(FIRST_PARTY_SCHEMES):
        spec = registry.get(scheme)
        if spec is not None and spec.settings is not None and len(spec.settings.keys()) > 1:
            schemes.setdefault((spec.settings, spec.distribution), []).append(scheme)
    for (settings, distribution), names in schemes.items():
        title = " and ".join(f"`{n}`" for n in names)
        sections.append((f"{title} replicas ({distribution})", names[0], settings))
    return sections


def render_reference() -> str:
    go = {(k.scope, k.key): k for k in go_config_keys()}
    page = {(r.cells[0], r.cells[1]): r for r in rows("Config keys")}

    def go_cell(scope: str, key: str) -> str:
        k = go.get((scope, key))
        if k is None:
            return "beyond Go"
        return "none" + k.default[1:] if re.match(r"-( |$)", k.default) else k.default

    def notes(scope: str, key: str, meaning: str) -> str:
        row = page.get((scope, key))
        if row is None or row.status == "supported":
            return meaning
        label = "Differs" if row.status == "differs" else "Not supported"
        return f"{meaning}{'. ' if meaning else ''}**{label}:** {row.notes}"

    lines = [
        "# Configuration reference",
        "",
        "Every key of `litestream.yml`: its type, its default here, Go Litestream 0.5.17's",
        "default for the same key (or *beyond Go*), and what differs. Generated from the declared",
        "settings of the config parser (`litestream_core/config.py`) and of each first-party",
        "backend, the engine's defaults, [`go-config-keys.txt`](go-config-keys.txt) and the",
        "statuses of [go-parity](go-parity.md); regenerate with",
        f"`{REGENERATE}`.",
        "",
        "The file is read from `-config PATH`, else `$LITESTREAM_CONFIG`, else",
        "`/etc/litestream.yml`. `$VAR` and `${VAR}` anywhere in it are replaced by",
        "environment variables before it is parsed (`-no-expand-env` turns that off), as in",
        "Go. Durations are Go's (`500ms`, `1m30s`, `24h`); byte sizes take units (`64MiB`).",
        "Any replica or backend key may also be written at the top level, as a default for",
        "every replica (except `part-size`, `concurrency`, `host-key` and `webdav-*`, as in",
        "Go). A key nobody knows is an error naming it, with its line and a suggestion.",
        "How to configure each backend, with examples: [backends](backends.md).",
    ]
    sections = _reference_sections()
    backends = {scope for _, scope, _ in sections[12:]}
    own = {scope for _, scope, _ in sections}
    for title, scope, cls in sections:
        lines += ["", f"## {title}", ""]
        lines += ["| key | type | default | Go's default | notes |", "|---|---|---|---|---|"]
        declared = set()
        for info in cls.describe():
            if info.key == "path" and scope in backends:
                continue  # a backend's path is the replica block's
            declared.add(info.key)
            default = info.default
            if default is None:
                default = _engine_default(info.attr)
            meaning = info.help + (" (secret)" if info.secret else "")
            lines.append(
                f"| `{info.key}` | {info.type} | {_shown(info, default)} | "
                f"{go_cell(scope, info.key)} | {notes(scope, info.key, meaning)} |"
            )
        for (go_scope, key), k in go.items():
            parent, _, block = go_scope.partition(".")
            if go_scope == scope and key not in declared:
                block_of = k.example.startswith(("{", "[")) or k.example == "-"
                meaning = f"the `{key}:` block" if block_of else ""
                kind = "block" if block_of else ""
                lines.append(
                    f"| `{key}` | {kind} | | {go_cell(go_scope, key)} | "
                    f"{notes(go_scope, key, meaning)} |"
                )
            elif parent == scope and block and go_scope not in own:
                lines.append(
                    f"| `{block}.{key}` | | | {go_cell(go_scope, key)} | "
                    f"{notes(go_scope, key, '')} |"
                )
    return "\n".join(lines) + "\n"


def test_config_reference_is_generated_from_the_code() -> None:
    expected = render_reference()
    if os.environ.get("LITESTREAM_UPDATE_DOCS"):
        REFERENCE.write_text(expected)
    assert REFERENCE.read_text() == expected, f"docs/config-reference.md is stale: {REGENERATE}"


def test_config_reference_defaults_are_what_the_parser_gives(tmp_path: Path) -> None:
    """The defaults the page shows are the ones a config without the keys gets."""
    config = parse_config(f"dbs:\n  - path: {tmp_path / 'a.db'}\n    replica:\n"
                          f"      path: {tmp_path / 'r'}\n", expand=False)  # fmt: skip
    text = REFERENCE.read_text()
    for key, value in (
        ("l0-retention", config.l0_retention),
        ("shutdown-sync-timeout", config.shutdown_sync_timeout),
        ("heartbeat-interval", config.heartbeat_interval),
    ):
        assert f"| `{key}` | duration | `{_duration(value)}` |" in text
    assert f"| `path` | string | `{config.socket.path}` |" in text
