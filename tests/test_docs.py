"""Every code block in the README, docs/ and the plugin READMEs runs, so none can rot.

Blocks are found with sybil (its Markdown lexers give each block's language, text and
line, and its ``invisible-code-block`` comments let a page hold setup a reader does not
need). Each document runs in a fresh temporary directory holding an ``app.db``, with one
namespace for all its Python blocks, in order:

- ``python``: executed; a block with top-level ``await`` runs on the document's event
  loop. A block that is only a ``def ...:`` line is a hook signature: it is compiled
  (``tests/test_hook_docs.py`` checks it against ``hookspecs.py``). The one rewrite:
  ``s3://my-bucket/PATH`` URLs point at a moto server started for the test, with the
  document's name in front of ``PATH`` so two documents never share a replica.
- ``yaml``: parsed as a Litestream config, and each replica's client is built (which
  checks its URL and keys); unset ``${VARS}`` get placeholder values.
- ``toml``: parsed; a ``[project]`` must ask for a range of litestream-core and name
  its entry points in ``litestream.plugins``.
- ``sh``: run with bash (``-euo pipefail``), our ``litestream`` first on the PATH.
- ``text``: prose laid out in a block (trees, output); nothing to run.

A block that cannot run here (it installs packages, or runs until stopped) follows an
``<!-- illustrative: REASON -->`` comment, and is checked only for having a reason.

sybil rather than pytest-examples: pytest-examples checks Python blocks (formatting,
printed output), while these documents hold YAML configs, TOML packaging and shell as
well, and their Python blocks build on each other; sybil's lexers take an evaluator per
language and give each document one namespace.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown import CodeBlockParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer

from litestream_core.config import expand_env, parse_config
from litestream_core.plugins import make_replica_client
from litestream_core.testing.servers import answers_http, free_port, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "plugins").glob("*/README.md")]
)
LANGUAGES = {"python", "yaml", "toml", "sh", "text"}
BUCKET_URL = re.compile(r"s3://my-bucket/[\w/-]*")
SKIP = "__illustrative__"
LOOP = "__loop__"


# -- Evaluators --------------------------------------------------------------------------


def _skipped(example: Example) -> bool:
    return bool(example.namespace.pop(SKIP, None))


def run_python(example: Example) -> None:
    if _skipped(example):
        return
    source = str(example.parsed)
    if re.fullmatch(r"def \w+\(.*\).*:\s*", source.strip()):
        compile(source.rstrip() + "\n    ...\n", example.path, "exec")  # a hook signature
        return
    endpoint, prefix = example.namespace["__moto__"], example.namespace["__prefix__"]
    source = BUCKET_URL.sub(
        lambda m: f"s3://my-bucket/{prefix}/{m[0][len('s3://my-bucket/') :]}?endpoint={endpoint}",
        source,
    )
    code = compile(
        "\n" * (example.line + example.parsed.line_offset) + source,
        example.path,
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    result = eval(code, example.namespace)
    if inspect.iscoroutine(result):
        example.namespace[LOOP].run_until_complete(result)


def run_yaml(example: Example) -> None:
    if _skipped(example):
        return
    placeholders: dict[str, str] = {}

    def value(name: str) -> str:
        return os.environ.get(name) or placeholders.setdefault(name, f"placeholder-{name.lower()}")

    text = expand_env(str(example.parsed), _Lookup(value))
    config = parse_config(text, source=f"{example.path}:{example.line}", expand=False)
    for db in config.dbs:
        if db.replica is not None:
            url, options = db.replica.replica_url()
            make_replica_client(url, options)  # validates the URL and the keys


class _Lookup(dict[str, str]):
    """An environment that answers every name (with a placeholder where unset)."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self._value = value

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: str) -> str:
        return str(self._value(name))

    def get(self, name: str, default: Any = None) -> Any:
        return self._value(name)


def run_toml(example: Example) -> None:
    if _skipped(example):
        return
    data = tomllib.loads(str(example.parsed))
    project = data.get("project")
    if project is None:
        return
    core = [d for d in project.get("dependencies", []) if d.startswith("litestream-core")]
    assert core and re.search(r">=.*<", core[0]), f"litestream-core not pinned to a range: {core}"
    entry_points = project.get("entry-points", {}).get("litestream.plugins", {})
    assert entry_points, "no entry point in the litestream.plugins group"
    for target in entry_points.values():
        assert re.fullmatch(r"[\w.]+(:[\w.]+)?", target), f"not an entry point: {target!r}"


def run_sh(example: Example) -> None:
    if _skipped(example):
        return
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", str(example.parsed)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"


def run_text(example: Example) -> None:
    example.namespace.pop(SKIP, None)


class IllustrativeParser:
    """``<!-- illustrative: REASON -->``: the next block is not run, for that reason."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer(directive="illustrative", arguments=r"[^\n]+?")

    def __call__(self, document: Document) -> Iterator[Region]:
        for region in self.lexer(document):
            reason = str(region.lexemes["arguments"]).strip()
            region.parsed = reason
            region.evaluator = self.evaluate
            yield region

    @staticmethod
    def evaluate(example: Example) -> None:
        assert str(example.parsed), "an illustrative block needs a reason"
        example.namespace[SKIP] = True


SYBIL = Sybil(
    parsers=[
        CodeBlockParser("python", run_python),
        CodeBlockParser("yaml", run_yaml),
        CodeBlockParser("toml", run_toml),
        CodeBlockParser("sh", run_sh),
        CodeBlockParser("text", run_text),
        IllustrativeParser(),
    ]
)


# -- The tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server with the bucket the docs name, ``my-bucket``."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = start_server(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        answers_http(f"{endpoint}/moto-api/"),
        name="moto_server",
        port=port,
        log=tmp_path_factory.mktemp("moto") / "moto.log",
    )
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="docs",
            aws_secret_access_key="docs",
        ).create_bucket(Bucket="my-bucket")
        yield endpoint
    finally:
        stop_server(proc)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_every_code_block_runs(
    path: Path, moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "docs")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "docs")
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    app = sqlite3.connect(tmp_path / "app.db")
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("CREATE TABLE IF NOT EXISTS notes (body TEXT)")
    app.execute("INSERT INTO notes VALUES ('written before the docs ran')")
    app.commit()
    app.close()

    document = SYBIL.parse(path)
    loop = asyncio.new_event_loop()
    prefix = re.sub(r"[^a-z0-9]+", "-", _name(path).lower())
    document.namespace.update({"__moto__": moto_endpoint, "__prefix__": prefix, LOOP: loop})
    try:
        for example in document.examples():
            try:
                example.evaluate()
            except Exception as exc:
                raise AssertionError(
                    f"{_name(path)}, the block at line {example.line}: {exc!r}"
                ) from exc
    finally:
        loop.close()


_FENCE = re.compile(r"^```(\S*)", re.MULTILINE)


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_every_code_block_has_a_language_we_run(path: Path) -> None:
    """A block in another language (or none) would be skipped silently: refuse it."""
    fences = _FENCE.findall(path.read_text())
    openings = fences[::2]  # fences alternate: opening, closing
    unknown = sorted({lang or "(none)" for lang in openings} - LANGUAGES)
    assert not unknown, f"{_name(path)}: code blocks in {unknown}; use one of {sorted(LANGUAGES)}"
