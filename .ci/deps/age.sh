#!/usr/bin/env bash
# Encrypted-replica tests decrypt replica files by hand with the age tool (Debian's
# `age` package: age and age-keygen), as a user would. Idempotent.
set -euo pipefail

if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends age >/dev/null
fi
