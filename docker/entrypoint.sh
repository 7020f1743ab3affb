#!/bin/sh
# Read the PostgreSQL password from a file (a compose secret) into libpq's PGPASSWORD, so
# it never appears in a command line, the compose file or the image; then run the command.
set -eu
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
fi
if [ -n "${KD_AUTOML_TOKEN_FILE:-}" ]; then
    KD_AUTOML_TOKEN="$(cat "$KD_AUTOML_TOKEN_FILE")"
    export KD_AUTOML_TOKEN
fi
exec "$@"
