#!/usr/bin/env bash
# Start a real PostgreSQL server on 127.0.0.1 for the store's PostgreSQL test and print the
# SQLAlchemy URL of an empty test database. Installs Debian's postgresql when missing.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    pg_createcluster "$(ls /usr/lib/postgresql | sort -V | tail -1)" main >&2
fi
read -r version cluster port _ < <(pg_lsclusters -h | head -1)
pg_ctlcluster "$version" "$cluster" start >&2 2>/dev/null || true
for _ in $(seq 30); do
    su postgres -c "pg_isready -q -p $port" && break
    sleep 1
done
# the test process keeps its stores' pools open, and the Slurm tests' tasks add their own:
# Debian's 100 connections ran out in a full run ("remaining connection slots are reserved")
if [ "$(su postgres -c "psql -tA -p $port -c 'SHOW max_connections'")" -lt 500 ]; then
    su postgres -c "psql -q -p $port -c 'ALTER SYSTEM SET max_connections = 500'" >&2
    pg_ctlcluster "$version" "$cluster" restart >&2
    for _ in $(seq 30); do
        su postgres -c "pg_isready -q -p $port" && break
        sleep 1
    done
fi
su postgres -c "psql -q -p $port -c \"DROP DATABASE IF EXISTS kd_automl_test\"" >&2
su postgres -c "psql -q -p $port -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kd_automl') THEN CREATE ROLE kd_automl LOGIN PASSWORD 'kd_automl'; END IF; END \\\$\\\$\"" >&2
su postgres -c "psql -q -p $port -c \"CREATE DATABASE kd_automl_test OWNER kd_automl\"" >&2
echo "postgresql+psycopg://kd_automl:kd_automl@127.0.0.1:$port/kd_automl_test"
