#!/usr/bin/env bash
# litestream-oss's tests run moto's S3 server (moto[server], root dev group via `uv sync`)
# behind plugins/oss/tests/oss_moto.py, which also answers the Go binary's OSS dialect.
# Nothing else to install; this checks that moto is there. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
uv run --no-sync python -c "import moto.server, werkzeug" \
    || { echo "moto[server] missing: run 'uv sync'" >&2; exit 1; }
