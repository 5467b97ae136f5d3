#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the token-store tests and print the URL they read
# (ROSTO_TEST_POSTGRES_URL). Installs Debian's server first where a machine lacks it.
# Prints nothing (tests then skip, visibly) when no server can be had.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq postgresql) >&2 || exit 0
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/rosto-pg.XXXXXX)
chown postgres "$dir"
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$bin/initdb" -D "$dir/data" -A trust -U rosto >&2
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-k $dir -p 54329 -c listen_addresses=''" start >&2
as_pg "$bin/createdb" -h "$dir" -p 54329 -U rosto rosto >&2
echo "postgresql+psycopg://rosto@/rosto?host=$dir&port=54329"
