#!/usr/bin/env bash
# SFTP backend tests: a private OpenSSH sshd (started by the tests on a free port with
# their own config; the system's sshd is never configured or started) and ssh-keygen.
# Run as root from the repo root. Idempotent.
set -euo pipefail

if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # Keep the package from starting the system's sshd service (Debian's policy-rc.d
    # convention); only when no policy is in place already, and removed afterwards.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
fi
# sshd's privilege-separation directory.
mkdir -p /run/sshd

# A dedicated account for the password-login tests: no shell, no home. The tests set a
# random password (kept in /run for the boot) and only their own sshd lets it in by
# password, for SFTP only.
if ! id litestream-sftp-test >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin litestream-sftp-test
fi
