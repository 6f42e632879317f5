#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d).
# Creates the application role and database (the app never uses the superuser) and a monitoring role for
# postgres_exporter. Passwords come from the environment compose passes from .env; never from this file.
set -eu

: "${AIWFE_DB_PASSWORD:?AIWFE_DB_PASSWORD must be set (see compose/env.example)}"
: "${POSTGRES_MONITOR_PASSWORD:?POSTGRES_MONITOR_PASSWORD must be set (see compose/env.example)}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set app_password="$AIWFE_DB_PASSWORD" \
    --set monitor_password="$POSTGRES_MONITOR_PASSWORD" <<'SQL'
CREATE ROLE aiwfe LOGIN PASSWORD :'app_password';
CREATE DATABASE aiwfe OWNER aiwfe;
CREATE ROLE aiwfe_monitor LOGIN PASSWORD :'monitor_password' CONNECTION LIMIT 5;
GRANT pg_monitor TO aiwfe_monitor;
SQL

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname aiwfe <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
