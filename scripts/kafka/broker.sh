#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker and controller in one JVM) on
# 127.0.0.1, for the scale-out tests and benchmarks. Needs KAFKA_LIBS: the
# folder of jars scripts/test.sh fetches with Maven (pom.xml beside this file).
#
#   broker.sh start DIR [PORT]  first start: picks free ports (PORT for clients
#                               if given), writes DIR/server.properties and formats
#                               DIR/logs; later starts reuse both (the same data,
#                               the same ports). Returns once clients can connect;
#                               prints the bootstrap address. Pid in DIR/broker.pid,
#                               log in DIR/broker.log.
#   broker.sh stop DIR          SIGTERM, waits (SIGKILL after 30 s).
#
# With KAFKA_SASL_USERS="user:password[,user2:password2]" at the first start, the
# client listener is SASL_PLAINTEXT with the PLAIN mechanism and those users.
# With KAFKA_TLS=1 at the first start, it is SSL: a throw-away CA and a
# certificate for 127.0.0.1 are made with openssl in DIR/tls (clients trust
# DIR/tls/ca.pem).
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a directory}
JAVA=${JAVA:-java}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
    : "${KAFKA_LIBS:?KAFKA_LIBS must name the broker jars (scripts/test.sh sets it)}"
    mkdir -p "$dir"
    props="$dir/server.properties"
    if [ ! -f "$props" ]; then
        port=${3:-$(free_port)}
        controller=$(free_port)
        protocol=PLAINTEXT
        if [ -n "${KAFKA_SASL_USERS:-}" ]; then protocol=SASL_PLAINTEXT; fi
        if [ -n "${KAFKA_TLS:-}" ]; then protocol=SSL; fi
        cat >"$props" <<PROPS
process.roles=broker,controller
node.id=1
listeners=$protocol://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=$protocol://127.0.0.1:$port
inter.broker.listener.name=$protocol
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocol:$protocol,CONTROLLER:PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:$controller
log.dirs=$dir/logs
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
        if [ -n "${KAFKA_SASL_USERS:-}" ]; then
            users=""
            IFS=, read -ra pairs <<<"$KAFKA_SASL_USERS"
            for pair in "${pairs[@]}"; do users="$users user_${pair%%:*}=\"${pair#*:}\""; done
            cat >>"$props" <<PROPS
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret"$users;
PROPS
        fi
        if [ -n "${KAFKA_TLS:-}" ]; then
            tls="$dir/tls"
            mkdir -p "$tls"
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tally test CA" \
                -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
                -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\n' >"$tls/san.ext"
            openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
                -CAcreateserial -days 2 -extfile "$tls/san.ext" -out "$tls/broker.pem" 2>/dev/null
            # Kafka's PEM key store: the PKCS#8 key, then the certificate chain.
            openssl pkcs8 -topk8 -nocrypt -in "$tls/broker.key" >"$tls/keystore.pem"
            cat "$tls/broker.pem" "$tls/ca.pem" >>"$tls/keystore.pem"
            cat >>"$props" <<PROPS
ssl.keystore.type=PEM
ssl.keystore.location=$tls/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.pem
PROPS
        fi
        cluster=$("$JAVA" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null)
        "$JAVA" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format -t "$cluster" \
            -c "$props" --standalone >"$dir/format.log" 2>&1
    fi
    port=$(sed -n 's/^advertised.listeners=[A-Z_]*:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$props")
    # Only this start's lines count (a restart appends to the same log).
    log_from=$(( $(stat -c %s "$dir/broker.log" 2>/dev/null || echo 0) + 1 ))
    # Small heap, quick start: a test broker holds little.
    "$JAVA" -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$props" >>"$dir/broker.log" 2>&1 &
    echo $! >"$dir/broker.pid"
    for _ in $(seq 1 600); do
        if ! kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
            echo "kafka broker exited; its log:" >&2
            tail -n 40 "$dir/broker.log" >&2
            exit 1
        fi
        if tail -c +"$log_from" "$dir/broker.log" 2>/dev/null | grep -q "Kafka Server started" \
            && (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "127.0.0.1:$port"
            exit 0
        fi
        sleep 0.1
    done
    echo "kafka broker did not start within 60 s" >&2
    exit 1
    ;;
stop)
    pid=$(cat "$dir/broker.pid" 2>/dev/null || true)
    [ -n "$pid" ] || exit 0
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$dir/broker.pid"; exit 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/broker.pid"
    ;;
*)
    echo "usage: broker.sh start DIR [PORT] | stop DIR" >&2
    exit 2
    ;;
esac
