#!/bin/sh
# Read the PostgreSQL password and the dashboard's token from files (compose secrets) into
# libpq's PGPASSWORD and kd-automl's KD_AUTOML_DASHBOARD_TOKEN, so neither appears in a
# command line, the compose file or the image; then run the command.
set -eu
if [ -n "${PGPASSWORD_FILE:-}" ]; then
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
fi
if [ -n "${KD_AUTOML_DASHBOARD_TOKEN_FILE:-}" ]; then
    KD_AUTOML_DASHBOARD_TOKEN="$(cat "$KD_AUTOML_DASHBOARD_TOKEN_FILE")"
    export KD_AUTOML_DASHBOARD_TOKEN
fi
exec "$@"
