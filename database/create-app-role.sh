#!/usr/bin/env bash
# Create (or update) the application role and grant it DML on the schema, nothing more.
# Contract (architecture.md, "Database bootstrap"): reads APP_DB_USER (default microstack_app) and
# APP_DB_PASSWORD_FILE; connects as POSTGRES_USER to POSTGRES_DB with the caller's PGHOST/PGPORT/
# PGPASSWORD. The password never reaches argv: psql reads the file itself through a backtick \set.
#
# The official postgres image executes this file, or sources it when it is not executable: the body
# runs in a subshell so that neither shell options nor variables leak into its entrypoint.
(
set -euo pipefail

APP_DB_USER="${APP_DB_USER:-microstack_app}"
: "${APP_DB_PASSWORD_FILE:?APP_DB_PASSWORD_FILE must name the file holding the application password}"
if [[ ! -r "$APP_DB_PASSWORD_FILE" ]]; then
    echo "create-app-role.sh: APP_DB_PASSWORD_FILE is not readable: $APP_DB_PASSWORD_FILE" >&2
    exit 1
fi
export APP_DB_PASSWORD_FILE

psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-microstack}" \
    --set=app_user="$APP_DB_USER" <<'SQL'
\set app_password `cat "$APP_DB_PASSWORD_FILE"`
SELECT format('CREATE ROLE %I LOGIN', :'app_user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
-- Set on every run, so a rotated password file takes effect; the server stores a SCRAM hash.
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'app_user', :'app_password') \gexec
\unset app_password
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'app_user') \gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'app_user') \gexec
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', :'app_user') \gexec
SELECT format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', :'app_user') \gexec
SQL
)
