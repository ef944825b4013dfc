#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests and for trying many tune workers on one machine.
#   bash scripts/dev-postgres.sh start   # initdb + pg_ctl in a temp folder, 127.0.0.1 on a free port; prints the URL
#   bash scripts/dev-postgres.sh url     # prints the URL of the running cluster
#   bash scripts/dev-postgres.sh stop    # stops it and deletes its folder
# Then: export TRAINWISE_TEST_POSTGRES_URL="$(bash scripts/dev-postgres.sh url)"
# As root the server runs as the `postgres` user (Debian's `postgresql` package); as anyone else, as you.
# The test user may create databases: each PostgreSQL test makes a fresh database of its own and drops it.
# TRAINWISE_PG_STATE names the state file (default: $TMPDIR/trainwise-dev-postgres.state).
set -euo pipefail

state="${TRAINWISE_PG_STATE:-${TMPDIR:-/tmp}/trainwise-dev-postgres.state}"
user="trainwise"
database="trainwise"

die() { echo "dev-postgres: $*" >&2; exit 1; }

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$found" ]; then echo "$found"; return; fi
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return; }
    die "no PostgreSQL found: install Debian's postgresql (apt-get install postgresql) or set PG_BIN"
}

# Run a command as the server's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

read_state() {
    [ -f "$state" ] || return 1
    # shellcheck disable=SC1090
    . "$state"
    [ -n "${DIR:-}" ] && [ -d "$DIR/data" ]
}

running() {
    read_state && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

start() {
    if running; then
        echo "$URL"
        return
    fi
    [ -f "$state" ] && rm -f "$state"  # a stale state file from a cluster that is gone
    local bin dir port password
    bin="$(pg_bin)"
    dir="$(mktemp -d "${TMPDIR:-/tmp}/trainwise-pg.XXXXXX")"
    chmod 700 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
    (cd "$dir" && as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1) || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    for attempt in 1 2 3; do  # a free port may be taken between asking and listening: try again
        port="$(free_port)"
        if (cd "$dir" && as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start \
            >/dev/null); then
            break
        fi
        [ "$attempt" -eq 3 ] && { cat "$dir/server.log" >&2; die "pg_ctl start failed"; }
    done
    (cd "$dir" && as_owner "$bin/psql" -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password'" \
        -c "CREATE DATABASE $database OWNER $user") >/dev/null
    URL="postgresql+psycopg://$user:$password@127.0.0.1:$port/$database"
    printf 'DIR=%q\nBIN=%q\nURL=%q\n' "$dir" "$bin" "$URL" >"$state"
    echo "$URL"
}

stop() {
    if ! read_state; then
        echo "dev-postgres: no cluster to stop" >&2
        rm -f "$state"
        return
    fi
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
    rm -f "$state"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) running || die "no cluster is running: bash scripts/dev-postgres.sh start"; echo "$URL" ;;
    *) echo "usage: bash scripts/dev-postgres.sh start|stop|url" >&2; exit 2 ;;
esac
