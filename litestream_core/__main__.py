"""``python -m litestream_core``: the ``litestream`` command, for when the script is not on PATH."""

from litestream_core.cli import main

main()
