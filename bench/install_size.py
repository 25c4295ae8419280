"""What `pip install litestream-core` and `litestream-core litestream-s3` cost on disk.

    uv run python bench/install_size.py [--source DIR]

Builds every workspace distribution from ``--source`` (a checkout; this one by default;
for a "before" figure, ``git archive <rev> | tar -x -C DIR`` first), installs the core
alone, then the core and the S3 backend, each into a fresh virtualenv with bytecode
compiled (as pip does), and prints the disk space of site-packages in MiB as ``du``
counts it (allocated blocks), with the largest entries. The sizes depend on the
dependency versions PyPI serves on the day.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from litestream_core.testing.e2e import (
    build_distributions,
    installed_bytes,
    site_packages,
    venv_with_wheels,
)

MIB = 1 << 20


def entries(venv: Path) -> list[tuple[int, str]]:
    """Disk space per top-level entry of site-packages, largest first."""
    sizes = []
    for entry in site_packages(venv).iterdir():
        files = [entry, *entry.rglob("*")] if entry.is_dir() else [entry]
        sizes.append((sum(f.lstat().st_blocks * 512 for f in files), entry.name))
    return sorted(sizes, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dists = build_distributions(args.source, Path(tmp) / "dists")
        for packages in (("litestream-core",), ("litestream-core", "litestream-s3")):
            work = Path(tmp) / "+".join(packages)
            work.mkdir()
            venv = venv_with_wheels(args.source, packages, work, dists=dists)
            print(f"{' + '.join(packages)}: {installed_bytes(venv) / MIB:.1f} MiB")
            for size, name in entries(venv)[: args.top]:
                print(f"  {size / MIB:6.1f}  {name}")


if __name__ == "__main__":
    main()
