#!/usr/bin/env bash
# litestream-webdav's tests run WsgiDAV under gunicorn (both from the root dev group,
# installed by `uv sync`; WsgiDAV's default cheroot server breaks the Go binary's client).
# Nothing else to install; this checks that both are there. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
uv run --no-sync python -c "import wsgidav, gunicorn" \
    || { echo "wsgidav or gunicorn missing: run 'uv sync'" >&2; exit 1; }
[ -x .venv/bin/wsgidav ] || { echo ".venv/bin/wsgidav missing: run 'uv sync'" >&2; exit 1; }
