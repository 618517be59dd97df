# shellcheck shell=bash
# Sourced by the benchmark scripts (needs ROOT): bench_broker_up DIR starts
# a fresh single broker on BENCH_KAFKA_PORT (default 29092) with its data in
# DIR, stops it when the script exits, and sets BOOTSTRAP.
bench_broker_up() {
    export KAFKA_PORT="${BENCH_KAFKA_PORT:-29092}"
    export KAFKA_DIR="$1"
    # The broker with its JIT fully on and a larger heap: the test cluster's
    # fast-start options would make the broker, not the readers, the
    # bottleneck.
    export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g}"
    export KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseParallelGC -XX:-UsePerfData -Djava.awt.headless=true}"
    "$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true
    "$ROOT/scripts/kafka.sh" up >&2
    trap '"$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true' EXIT
    # shellcheck disable=SC2034 # read by the sourcing script
    BOOTSTRAP="$("$ROOT/scripts/kafka.sh" bootstrap)"
}
