#!/usr/bin/env bash
# Throughput of gapwatch against a bare rdkafka consumer (and kcat) reading
# the same topic on the same machine, median of several runs, and how
# gapwatch's throughput and memory grow with the number of streams.
#
#   scripts/bench.sh            10 million 100-byte messages per workload
#   scripts/bench.sh --quick    1 million messages per workload: a few minutes
#   scripts/bench.sh [--quick] --only w1|w2|sweep|recovery|query   one part
#
# Workloads (12 partitions):
#   w1     1,000 producers, each on every partition (12,000 streams);
#   w2     1,000,000 producers, each on one partition (1,000,000 streams,
#          a few messages each; 100,000 producers in --quick);
#   sweep  the same message count spread over 1k .. 10M streams (1M in
#          --quick), gapwatch and the bare consumer once each.
# Then, in the full run only: recovery (scripts/bench/recovery.sh: start to
# /readyz with 1M and 10M streams stored) and query latency
# (scripts/bench/query.sh: 500 requests/s while a backlog is read).
#
# Writes the tables to docs/BENCHMARKS.md (between the markers), the sweep's
# plot to docs/bench-sweep-full.png (target/bench-sweep-quick.png with
# --quick), and prints them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"

MODE=full
ONLY=all
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) MODE=quick ;;
    --only)
        ONLY="${2:-}"
        shift
        ;;
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    *)
        echo "bench.sh: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
case "$ONLY" in
all | w1 | w2 | sweep) ;;
recovery) exec "$ROOT/scripts/bench/recovery.sh" 1000000 10000000 ;;
query) exec "$ROOT/scripts/bench/query.sh" ;;
*)
    echo "bench.sh: --only takes w1, w2, sweep, recovery or query, not '$ONLY'" >&2
    exit 2
    ;;
esac

RUNS=3
PARTITIONS=12
if [ "$MODE" = quick ]; then
    MESSAGES=1000000
    W2_PRODUCERS=100000
    SWEEP=(1000 10000 100000 1000000)
else
    MESSAGES=10000000
    W2_PRODUCERS=1000000
    SWEEP=(1000 10000 100000 1000000 10000000)
fi

ensure_build_deps
apt_install kcat python3-matplotlib
cargo build --release --locked --bin gapwatch --example bare_consumer
GAPWATCH="$ROOT/target/release/gapwatch"
BARE="$ROOT/target/release/examples/bare_consumer"

# shellcheck source=scripts/bench/broker.sh
source "$ROOT/scripts/bench/broker.sh"
bench_broker_up "$ROOT/.kafka/bench"

# gapwatch's consumer runs with fetch.queue.backoff.ms=10 (librdkafka's
# default of 1 s caps a fast reader); the bare consumer gets the same, so
# the comparison is of what each does with the messages. Debian's kcat is
# built on librdkafka 2.0, which has no such option and always backs off for
# 1 s once its prefetch queue is full: a deep queue keeps it from filling.
FETCH_OPTION="fetch.queue.backoff.ms=10"
KCAT_OPTION="queued.min.messages=1000000"

results="$KAFKA_DIR/results-$MODE.jsonl"
: >"$results"

# prepare TOPIC PRODUCERS STEPS [LOADGEN ARGS...]: writes the topic, prints
# the number of messages sent.
prepare() {
    local topic="$1" producers="$2" steps="$3"
    shift 3
    echo "preparing $topic: $producers producers, $steps steps per stream $*" >&2
    "$GAPWATCH" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$topic" --create-topic \
        --partitions "$PARTITIONS" --producers "$producers" --messages "$steps" \
        --payload-size 100 --drop-rate 0.0001 --seed 1 "$@" | tee "$KAFKA_DIR/loadgen.txt" >&2
    grep -o 'sent [0-9]*' "$KAFKA_DIR/loadgen.txt" | grep -o '[0-9]*'
}

# record TAGS TOOL RUN DATA: one result line; TAGS is a JSON fragment.
record() {
    echo "{$1, \"tool\": \"$2\", \"run\": $3, \"data\": $4}" >>"$results"
}

kcat_read() {
    local topic="$1" sent="$2" start end
    start=$(date +%s.%N)
    kcat -b "$BOOTSTRAP" -X "$KCAT_OPTION" -C -t "$topic" -o beginning -e -q -f '%h\n' >/dev/null
    end=$(date +%s.%N)
    echo "{\"messages\": $sent, \"seconds\": $(python3 -c "print(round($end - $start, 3))")}"
}

gapwatch_read() {
    python3 "$ROOT/scripts/bench/pipeline.py" "$GAPWATCH" "$BOOTSTRAP" "$1" "$2" "$KAFKA_DIR/gw"
}

# side_by_side WORKLOAD TOPIC SENT: every reader, RUNS times, interleaved.
side_by_side() {
    local workload="$1" topic="$2" sent="$3" tags run
    tags="\"workload\": \"$workload\", \"producers\": $4, \"streams\": $5, \"messages\": $sent"
    for run in $(seq 1 "$RUNS"); do
        echo "$workload run $run/$RUNS: bare consumer, kcat, gapwatch" >&2
        record "$tags" bare "$run" "$("$BARE" "$BOOTSTRAP" "$topic" "$FETCH_OPTION")"
        record "$tags" kcat "$run" "$(kcat_read "$topic" "$sent")"
        record "$tags" gapwatch "$run" "$(gapwatch_read "$topic" "$sent")"
    done
}

stamp="$(date +%s)"
if [ "$ONLY" = all ] || [ "$ONLY" = w1 ]; then
    producers=1000
    steps=$((MESSAGES / (PARTITIONS * producers)))
    sent=$(prepare "bench-w1-$stamp" "$producers" "$steps")
    side_by_side w1 "bench-w1-$stamp" "$sent" "$producers" $((producers * PARTITIONS))
fi
if [ "$ONLY" = all ] || [ "$ONLY" = w2 ]; then
    steps=$((MESSAGES / W2_PRODUCERS))
    sent=$(prepare "bench-w2-$stamp" "$W2_PRODUCERS" "$steps" --one-partition-each)
    side_by_side w2 "bench-w2-$stamp" "$sent" "$W2_PRODUCERS" "$W2_PRODUCERS"
fi
if [ "$ONLY" = all ] || [ "$ONLY" = sweep ]; then
    for streams in "${SWEEP[@]}"; do
        # Every producer on every partition; the same messages in total.
        producers=$((streams / PARTITIONS))
        steps=$((MESSAGES / (producers * PARTITIONS)))
        topic="bench-sweep-$streams-$stamp"
        sent=$(prepare "$topic" "$producers" "$steps")
        tags="\"workload\": \"sweep\", \"producers\": $producers, \"streams\": $((producers * PARTITIONS)), \"messages\": $sent"
        echo "sweep $streams streams: bare consumer, gapwatch" >&2
        record "$tags" bare 1 "$("$BARE" "$BOOTSTRAP" "$topic" "$FETCH_OPTION")"
        record "$tags" gapwatch 1 "$(gapwatch_read "$topic" "$sent")"
        # Each sweep topic is read once: give its disk back.
        "$ROOT/scripts/kafka.sh" topic delete "$topic" >/dev/null 2>&1 || true
    done
fi

python3 "$ROOT/scripts/bench/report.py" "$results" "$MODE" "$ROOT/docs/BENCHMARKS.md"
if grep -q '"workload": "sweep"' "$results"; then
    # Debian's python3 has matplotlib (python3-matplotlib).
    plot="$ROOT/docs/bench-sweep-full.png"
    [ "$MODE" = full ] || plot="$ROOT/target/bench-sweep-quick.png"
    /usr/bin/python3 "$ROOT/scripts/bench/plot.py" "$results" "$plot"
fi
if [ "$ONLY" = all ] && [ "$MODE" = full ]; then
    "$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true
    "$ROOT/scripts/bench/recovery.sh" 1000000 10000000
    "$ROOT/scripts/bench/query.sh"
fi
