#!/usr/bin/env bash
# Starts a local PostgreSQL server for the tests and prints its URL on stdout (everything else goes to stderr).
# Installs the Debian package when it is missing; the role it makes may create databases, since each test file makes its own.
set -euo pipefail
exec 3>&1 1>&2

if ! command -v pg_lsclusters >/dev/null; then
  echo "installing postgresql (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
if [ -z "${version:-}" ]; then
  version="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
  pg_createcluster "$version" main 3>&-
  cluster=main port=5432 status=down
fi
if [ "$status" != "online" ]; then
  # The server must not inherit fd 3, or the caller's $(...) would wait for it to exit.
  pg_ctlcluster "$version" "$cluster" start 3>&-
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p "$port"

su postgres -c "psql -q -v ON_ERROR_STOP=1 -p $port" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pixelpipe') THEN
    CREATE ROLE pixelpipe LOGIN PASSWORD 'pixelpipe' CREATEDB;
  END IF;
END $$;
SELECT 'CREATE DATABASE pixelpipe_test OWNER pixelpipe' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'pixelpipe_test')\gexec
SQL

echo "postgres://pixelpipe:pixelpipe@127.0.0.1:$port/pixelpipe_test" >&3
