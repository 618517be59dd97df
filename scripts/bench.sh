#!/usr/bin/env bash
# Throughput of gapwatch against a bare rdkafka consumer (and kcat) reading
# the same topic on the same machine, median of several runs.
#
#   scripts/bench.sh            10 million 100-byte messages, 12 partitions, 1,000 producers
#   scripts/bench.sh --quick    1 million messages: a few minutes
#
# Writes the results to docs/BENCHMARKS.md (between the markers) and prints them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"

MODE=full
MESSAGES=10000000
RUNS=3
if [ "${1:-}" = "--quick" ]; then
    MODE=quick
    MESSAGES=1000000
fi
PARTITIONS=12
PRODUCERS=1000
PER_STREAM=$(( MESSAGES / (PARTITIONS * PRODUCERS) ))

ensure_build_deps
apt_install kcat
cargo build --release --locked --bin gapwatch --example bare_consumer
GAPWATCH="$ROOT/target/release/gapwatch"
BARE="$ROOT/target/release/examples/bare_consumer"

export KAFKA_PORT="${BENCH_KAFKA_PORT:-29092}"
export KAFKA_DIR="$ROOT/.kafka/bench"
# The broker with its JIT fully on and a larger heap: the test cluster's
# fast-start options would make the broker, not the readers, the bottleneck.
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g}"
export KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseParallelGC -XX:-UsePerfData -Djava.awt.headless=true}"
"$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true
"$ROOT/scripts/kafka.sh" up
trap '"$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true' EXIT
BOOTSTRAP="$("$ROOT/scripts/kafka.sh" bootstrap)"

TOPIC="bench-$(date +%s)"
echo "preparing $MESSAGES messages on $TOPIC ($PARTITIONS partitions, $PRODUCERS producers)"
"$GAPWATCH" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$TOPIC" --create-topic \
    --partitions "$PARTITIONS" --producers "$PRODUCERS" --messages "$PER_STREAM" \
    --payload-size 100 --drop-rate 0.0001 --seed 1 | tee "$KAFKA_DIR/loadgen.txt"
TOTAL=$(( PER_STREAM * PARTITIONS * PRODUCERS ))
SENT=$(grep -o 'sent [0-9]*' "$KAFKA_DIR/loadgen.txt" | grep -o '[0-9]*')

results="$KAFKA_DIR/results.jsonl"
: >"$results"
for run in $(seq 1 "$RUNS"); do
    echo "run $run/$RUNS: bare consumer"
    echo "{\"tool\": \"bare\", \"run\": $run, \"data\": $("$BARE" "$BOOTSTRAP" "$TOPIC")}" >>"$results"
    echo "run $run/$RUNS: kcat"
    start=$(date +%s.%N)
    kcat -b "$BOOTSTRAP" -C -t "$TOPIC" -o beginning -e -q -f '%h\n' >/dev/null
    end=$(date +%s.%N)
    echo "{\"tool\": \"kcat\", \"run\": $run, \"data\": {\"messages\": $SENT, \"seconds\": $(python3 -c "print(round($end - $start, 3))")}}" >>"$results"
    echo "run $run/$RUNS: gapwatch"
    echo "{\"tool\": \"gapwatch\", \"run\": $run, \"data\": $(python3 "$ROOT/scripts/bench/pipeline.py" "$GAPWATCH" "$BOOTSTRAP" "$TOPIC" "$SENT" "$KAFKA_DIR/gw")}" >>"$results"
done

python3 "$ROOT/scripts/bench/report.py" "$results" "$MODE" "$SENT" "$PARTITIONS" "$PRODUCERS" "$ROOT/docs/BENCHMARKS.md"
