#!/usr/bin/env bash
# Query latency: p50/p99 of GET /api/v1/gaps and GET /api/v1/messages/...
# at 500 requests/s (open loop, loopback) while gapwatch ingests a backlog at
# full speed, with 1,000,000 streams stored.
#
#   scripts/bench/query.sh
#
# Two topics on a fresh broker (port $BENCH_KAFKA_PORT, default 29092; data
# in .kafka/bench-query): one with 1,000,000 streams of one message each (the
# streams the lookups ask about), one with a backlog of 36 million messages.
# gapwatch audits both from the start; once the first is audited,
# benches/query_load.rs sends its requests for 20 s while the backlog is
# still being read (the table says how fast it was read during those 20 s,
# and whether it ran out). Writes the table to docs/BENCHMARKS.md (or to
# $QUERY_DOC).
#
# Environment: QUERY_STREAMS (1000000), QUERY_BACKLOG_STEPS (3000, x 1,000
# producers x 12 partitions), QUERY_RATE (500), QUERY_SECONDS (20),
# QUERY_DOC (docs/BENCHMARKS.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
ensure_build_deps
cargo build --release --locked --bin gapwatch --example query_load
GW="$ROOT/target/release/gapwatch"
LOAD="$ROOT/target/release/examples/query_load"

STREAMS="${QUERY_STREAMS:-1000000}"
BACKLOG_STEPS="${QUERY_BACKLOG_STEPS:-3000}" # x 1,000 producers x 12 partitions
RATE="${QUERY_RATE:-500}"
SECONDS_UNDER_LOAD="${QUERY_SECONDS:-20}"
DOC="${QUERY_DOC:-$ROOT/docs/BENCHMARKS.md}"

# shellcheck source=scripts/bench/broker.sh
source "$ROOT/scripts/bench/broker.sh"
bench_broker_up "$ROOT/.kafka/bench-query"

stamp="$(date +%s)"
streams_topic="query-streams-$stamp"
backlog_topic="query-backlog-$stamp"
"$GW" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$streams_topic" --create-topic \
    --partitions 12 --producers "$STREAMS" --one-partition-each --messages 1 \
    --payload-size 100 >&2
"$GW" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$backlog_topic" --create-topic \
    --partitions 12 --producers 1000 --messages "$BACKLOG_STEPS" --payload-size 100 \
    --drop-rate 0.0001 --seed 1 >&2
python3 "$ROOT/scripts/bench/query.py" "$GW" "$LOAD" "$BOOTSTRAP" "$streams_topic" \
    "$backlog_topic" "$STREAMS" "$RATE" "$SECONDS_UNDER_LOAD" "$KAFKA_DIR/query" \
    "$DOC"
