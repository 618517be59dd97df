#!/usr/bin/env bash
# Recovery: how long gapwatch takes from start to /readyz with many streams
# already stored in RocksDB, and its RSS once ready.
#
#   scripts/bench/recovery.sh [STREAMS...]     default: 1000000
#
# For each count: one message per stream (PRODUCERS x PARTITIONS streams,
# at most 1,000,000 producers), audited once until caught up and stopped
# with SIGTERM; then started again on the same state, three times, and the
# time to the first 200 from /readyz is reported (median). The table goes
# into docs/BENCHMARKS.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
ensure_build_deps
cargo build --release --locked --bin gapwatch
GW="$ROOT/target/release/gapwatch"

# shellcheck source=scripts/bench/broker.sh
source "$ROOT/scripts/bench/broker.sh"
bench_broker_up "$ROOT/.kafka/bench"

counts=("$@")
((${#counts[@]})) || counts=(1000000)
results="$KAFKA_DIR/recovery.jsonl"
: >"$results"
for streams in "${counts[@]}"; do
    partitions=$(( (streams + 999999) / 1000000 ))
    producers=$(( streams / partitions ))
    topic="recovery-$streams-$(date +%s)"
    work="$KAFKA_DIR/recovery-$streams"
    rm -rf "$work"
    mkdir -p "$work"
    "$GW" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$topic" --create-topic \
        --partitions "$partitions" --producers "$producers" --messages 1 --payload-size 100 >&2
    python3 "$ROOT/scripts/bench/recovery.py" "$GW" "$BOOTSTRAP" "$topic" \
        "$(( partitions * producers ))" "$work" | tee -a "$results"
done
python3 "$ROOT/scripts/bench/recovery_report.py" "$results" "$ROOT/docs/BENCHMARKS.md"
