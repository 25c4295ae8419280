"""Every distribution in the repository is a well-kept PyPI project, checked from source.

One version for all (``scripts/set-version`` writes it), sibling requirements in a
compatible range, the same license files, authors and project URLs everywhere, a
CHANGELOG section for the version, and a core whose imports are all declared
dependencies. ``test_wheels.py`` checks the built wheels and sdists.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from litestream_core._version import __version__

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path) -> dict:
    return tomllib.loads(path.read_text())


CORE = load(ROOT / "pyproject.toml")
WORKSPACE = CORE["tool"]["uv"]["workspace"]
EXCLUDED = {ROOT / pattern for pattern in WORKSPACE.get("exclude", [])}
"""Not members, as uv reads it: the backend template is a third party's project."""
MEMBERS = {
    path.parent.relative_to(ROOT).as_posix(): load(path)
    for pattern in WORKSPACE["members"]
    for path in sorted(ROOT.glob(f"{pattern}/pyproject.toml"))
    if path.parent not in EXCLUDED
}
ALL = {".": CORE, **MEMBERS}
NAMES = {canonicalize_name(p["project"]["name"]) for p in ALL.values()}


def test_one_version_everywhere() -> None:
    version = CORE["project"]["version"]
    assert __version__ == version
    assert {d: p["project"]["version"] for d, p in MEMBERS.items()} == dict.fromkeys(
        MEMBERS, version
    )


@pytest.mark.parametrize("directory", sorted(ALL))
def test_siblings_are_required_in_a_compatible_range(directory: str) -> None:
    """From this version up to the next breaking one (next minor before 1.0)."""
    version = Version(CORE["project"]["version"])
    upper = f"0.{version.minor + 1}" if version.major == 0 else f"{version.major + 1}"
    requirements = [Requirement(r) for r in ALL[directory]["project"].get("dependencies", [])]
    siblings = [r for r in requirements if canonicalize_name(r.name) in NAMES]
    if directory.startswith("plugins/"):
        assert "litestream-core" in {canonicalize_name(r.name) for r in siblings}
    for r in siblings:
        assert r.specifier == SpecifierSet(f">={version},<{upper}"), f"{directory}: {r}"


@pytest.mark.parametrize("directory", sorted(ALL))
def test_metadata_is_complete(directory: str) -> None:
    project, core = ALL[directory]["project"], CORE["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE", "NOTICE"]
    for name in project["license-files"]:
        assert (ROOT / directory / name).read_bytes() == (ROOT / name).read_bytes(), name
    assert (ROOT / directory / project["readme"]).is_file()
    assert project["description"]
    assert project["authors"] == core["authors"]
    assert project["requires-python"] == core["requires-python"]
    assert project["urls"] == core["urls"]
    assert {"Homepage", "Documentation", "Changelog", "Issues", "Source"} <= set(project["urls"])
    classifiers = set(project["classifiers"])
    assert {"Programming Language :: Python :: 3", "Typing :: Typed"} <= classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    # PEP 639: the license expression replaces license classifiers.
    assert not any(c.startswith("License :: ") for c in classifiers)


def test_license_and_notice() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text  # the full text, not a stub
    notice = (ROOT / "NOTICE").read_text()
    assert "github.com/benbjohnson/litestream" in notice and "Ben Johnson" in notice
    assert "github.com/superfly/ltx" in notice


def test_changelog_has_a_section_for_the_version() -> None:
    headings = [
        line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line.startswith("## ")
    ]
    assert any(h.split()[1] == __version__ for h in headings), headings


def _imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in the file, wherever it sits."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_imports_only_what_it_declares() -> None:
    """A module imported from an undeclared package works in the workspace and breaks
    for users. Optional parts (the test kit, the daemon's servers) may use their extras."""
    project = CORE["project"]
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    declared = {canonicalize_name(Requirement(r).name) for r in project["dependencies"] + extras}
    providers = packages_distributions()
    known = set(sys.stdlib_module_names) | {"litestream_core", "_typeshed"}  # _typeshed: types only
    missing = []
    for path in sorted((ROOT / "litestream_core").rglob("*.py")):
        for module in _imported_modules(path) - known:
            dists = {canonicalize_name(d) for d in providers.get(module, [])}
            if not dists & declared:
                missing.append(f"{path.relative_to(ROOT)}: {module} ({', '.join(dists) or '?'})")
    assert not missing, missing
