#!/bin/sh
# Container entrypoint: restore the databases that are missing from their replicas,
# then run the application under Litestream, which replicates while it runs and stops
# with it (with a last sync). The container's exit status is the application's.
#
#   entrypoint.sh APP [ARGS...]      e.g. entrypoint.sh gunicorn app:wsgi -b :8000
#
# The databases and replicas come from the config file: $LITESTREAM_CONFIG, default
# /etc/litestream.yml. A first start with no backup yet starts with no database, and
# the application creates it. Guide: docs/deployment.md.
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: entrypoint.sh APP [ARGS...]" >&2
    exit 2
fi

exec litestream replicate -config "${LITESTREAM_CONFIG:-/etc/litestream.yml}" \
    -restore-if-db-not-exists -exec "$*"
