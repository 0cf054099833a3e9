#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for tests and benchmarks (Debian's
# postgresql, installed by scripts/test.sh when missing).
#
#   postgres.sh start DIR   first start: initdb in DIR (owned by postgres when run
#                           as root: PostgreSQL refuses to run as root) on a free
#                           port; later starts reuse DIR's data and port. Prints
#                           the URL (user tally, trust auth, fsync off).
#   postgres.sh halt DIR    stop it (fast), keeping DIR for a later start
#   postgres.sh stop DIR    stop it (immediate) and delete DIR
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a directory}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
[ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
start)
    if [ ! -f "$dir/port" ]; then
        mkdir -p "$dir"
        if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$dir/port"
        # The postgres user must reach DIR: a folder inside a root-only one will not do.
        as_pg "$PG_BIN/initdb" -D "$dir/data" -U tally -A trust --no-sync >"$dir/initdb.log" 2>&1 \
            || { echo "initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    fi
    port=$(cat "$dir/port")
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=300" \
        start >/dev/null || { echo "postgres did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://tally@127.0.0.1:$port/postgres"
    ;;
halt)
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    ;;
stop)
    [ -d "$dir/data" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: postgres.sh start DIR | halt DIR | stop DIR" >&2
    exit 2
    ;;
esac
