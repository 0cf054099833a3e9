#!/usr/bin/env bash
# A throw-away ClickHouse server on 127.0.0.1 for tests and benchmarks (Debian's
# clickhouse-server, installed by scripts/test.sh when missing).
#
#   clickhouse.sh start DIR   first start: config in DIR, free HTTP and native
#                             ports; later starts reuse DIR's data and ports.
#                             Prints the HTTP URL once the server answers /ping.
#   clickhouse.sh halt DIR    stop it (SIGTERM), keeping DIR for a later start
#   clickhouse.sh stop DIR    stop it and delete DIR
#   clickhouse.sh cluster-start DIR N
#                             N servers (DIR/shard1…N) as the N shards of a
#                             cluster named `tally`; prints their HTTP URLs,
#                             space-separated, once all answer
#   clickhouse.sh cluster-stop DIR
#                             stop them and delete DIR
#
# CLICKHOUSE_SHARDS="127.0.0.1:9001 127.0.0.1:9002" (native ports, one per shard)
# adds a cluster named `tally` of those shards to the config, for the sharded
# schema; CLICKHOUSE_TCP_PORT / CLICKHOUSE_HTTP_PORT choose the ports of a first
# start (a cluster's servers must know each other's ports before they start).
# User `default`, no password, listening on 127.0.0.1 only; time zone UTC.
set -euo pipefail
cmd=${1:?start, halt or stop}
dir=${2:?a directory}
server=$(command -v clickhouse-server || true)
[ -n "$server" ] || { echo "ClickHouse is not installed (apt-get install clickhouse-server)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

write_config() {
    local http=$1 tcp=$2 shards=""
    for s in ${CLICKHOUSE_SHARDS:-}; do
        shards+="<shard><replica><host>${s%:*}</host><port>${s##*:}</port></replica></shard>"
    done
    cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>$dir/server.log</log><errorlog>$dir/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>67108864</mark_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <remote_servers><tally>$shards</tally></remote_servers>
</yandex>
XML
    cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
XML
}

case "$cmd" in
start)
    if [ ! -f "$dir/http_port" ]; then
        mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
        echo "${CLICKHOUSE_HTTP_PORT:-$(free_port)}" >"$dir/http_port"
        echo "${CLICKHOUSE_TCP_PORT:-$(free_port)}" >"$dir/tcp_port"
        write_config "$(cat "$dir/http_port")" "$(cat "$dir/tcp_port")"
    fi
    http=$(cat "$dir/http_port")
    # Started in its own session so the caller's Ctrl-C or exit does not reach it;
    # `stop` ends it by its pid.
    setsid "$server" --config-file="$dir/config.xml" >"$dir/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    for _ in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$http/ping" >/dev/null 2>&1; then
            echo "http://127.0.0.1:$http"
            exit 0
        fi
        kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
        sleep 0.05
    done
    echo "clickhouse did not start:" >&2
    tail -n 30 "$dir/stdout.log" "$dir/server.err.log" >&2 2>/dev/null || true
    exit 1
    ;;
cluster-start)
    n=${3:-2}
    mkdir -p "$dir"
    tcp=() http=() shards="" urls=()
    for i in $(seq 1 "$n"); do
        tcp[$i]=$(free_port); http[$i]=$(free_port)
        shards+="127.0.0.1:${tcp[$i]} "
    done
    for i in $(seq 1 "$n"); do
        urls+=("$(CLICKHOUSE_SHARDS="$shards" CLICKHOUSE_TCP_PORT=${tcp[$i]} CLICKHOUSE_HTTP_PORT=${http[$i]} \
            bash "$0" start "$dir/shard$i")")
    done
    echo "${urls[*]}"
    ;;
cluster-stop)
    for shard in "$dir"/shard*; do
        [ -d "$shard" ] && bash "$0" stop "$shard"
    done
    rm -rf "$dir"
    ;;
halt|stop)
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    [ "$cmd" = stop ] && rm -rf "$dir"
    true
    ;;
*)
    echo "usage: clickhouse.sh start DIR | halt DIR | stop DIR | cluster-start DIR N | cluster-stop DIR" >&2
    exit 2
    ;;
esac
