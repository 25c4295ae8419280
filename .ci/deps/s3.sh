#!/usr/bin/env bash
# litestream-s3's tests need moto's HTTP server (moto[server], from the root dev group via
# `uv sync`) and the Go peer binary (.peer/bin/litestream, installed by scripts/setup).
# Nothing else to install; this checks that both are there. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
uv run --no-sync python -c "import moto.server" \
    || { echo "moto[server] missing: run 'uv sync'" >&2; exit 1; }
