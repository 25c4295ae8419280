#!/usr/bin/env bash
# litestream-abs's tests run Azurite (npm package; Node is on the machine), installed
# into <repo>/.tools so nothing global changes. Idempotent: skips when already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
    command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --silent azurite@3.35.0
fi
