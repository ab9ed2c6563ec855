#!/bin/sh
# Run once by the postgres image, on the first start with an empty volume: the application's
# own role and database (docker-compose.yml). Temporal's databases are made by temporal-schema.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=password="$CERS_DB_PASSWORD" <<'SQL'
CREATE ROLE cers LOGIN PASSWORD :'password';
CREATE DATABASE cers OWNER cers;
SQL
