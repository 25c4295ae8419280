"""What `pip install litestream-core` and `litestream-core litestream-s3` cost on disk.

    uv run python bench/install_size.py [--source DIR]

Builds every workspace distribution from ``--source`` (a checkout; this one by default;
for a "before" figure, ``git archive <rev> | tar -x -C DIR`` first), installs the core
alone, then the core and the S3 backend, each into a fresh virtualenv with bytecode
compiled (as pip does), and prints what site-packages holds in MB (10^6 bytes, the
sum of file sizes, the issue's measure) and the disk space ``du`` counts (allocated
blocks, MiB), with the largest entries. The sizes depend on the dependency versions
PyPI serves on the day.
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
MB = 1e6


def entries(venv: Path) -> list[tuple[int, str]]:
    """Bytes per top-level entry of site-packages (sum of file sizes), largest first."""
    sizes = []
    for entry in site_packages(venv).iterdir():
        files = [entry, *entry.rglob("*")] if entry.is_dir() else [entry]
        sizes.append((sum(f.lstat().st_size for f in files), entry.name))
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
            held, disk = installed_bytes(venv), installed_bytes(venv, allocated=True)
            print(f"{' + '.join(packages)}: {held / MB:.2f} MB ({disk / MIB:.1f} MiB on disk)")
            for size, name in entries(venv)[: args.top]:
                print(f"  {size / MB:6.2f}  {name}")


if __name__ == "__main__":
    main()
