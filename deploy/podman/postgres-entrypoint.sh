#!/bin/bash
# Entrypoint of the postgres stand-in (postgres.Containerfile): what the official image's docker-entrypoint.sh does
# for this project. As root it prepares $PGDATA and re-runs itself as `postgres`; on the first start (no PG_VERSION)
# it runs initdb with POSTGRES_USER (default postgres) as the superuser and POSTGRES_PASSWORD as its password,
# creates POSTGRES_DB (default: the user's name), then starts the server in the foreground. TCP connections need
# the password (scram-sha-256); the container's own Unix socket is trusted, as in the official image.
set -euo pipefail

if [ "${1:-}" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (the password of POSTGRES_USER)}"
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8
  rm -f "$pwfile"
  echo 'host all all all scram-sha-256' >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # a server on the Unix socket only, so no client (nor a health check over TCP) sees it before it is ready
    pg_ctl --pgdata="$PGDATA" --wait --options="-c listen_addresses=''" start
    psql --username="$user" --dbname=postgres --set=ON_ERROR_STOP=1 --set=db="$db" <<'SQL'
CREATE DATABASE :"db";
SQL
    pg_ctl --pgdata="$PGDATA" --wait --mode=fast stop
  fi
  echo "postgres stand-in: initialised $PGDATA (user $user, database $db)"
fi

exec "$@"
