#!/usr/bin/env bash
# The one test command: installs what is missing, checks formatting and lints,
# runs the unit tests, then the integration tests against a real Kafka that it
# starts on loopback and always stops again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=$(date +%s)

log() { printf '\n==> %s\n' "$*"; }

# ---- what the build and the tests need -------------------------------------
log "checking the toolchain and system packages"
# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
ensure_build_deps
ensure_test_deps

# One profile for lints, unit tests, integration tests and the binaries they
# start, so librdkafka and RocksDB are compiled once per checkout.
CARGO_FLAGS=(--release --locked)

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy "${CARGO_FLAGS[@]}" --all-targets -- -D warnings

log "unit tests"
cargo test "${CARGO_FLAGS[@]}" --lib --bins

log "Prometheus rules: promtool check and unit tests"
promtool check rules config/prometheus/alerts.yml
promtool check config config/prometheus/prometheus.yml
promtool test rules config/prometheus/alerts_test.yml
amtool check-config config/alertmanager/alertmanager.yml

# ---- integration tests against a real broker -------------------------------
# A port and data directory of their own, so a broker a person started by
# hand (scripts/kafka.sh up) is never touched.
export KAFKA_PORT="${GAPWATCH_TEST_KAFKA_PORT:-19092}"
export KAFKA_DIR="${GAPWATCH_TEST_KAFKA_DIR:-$ROOT/.kafka/test}"
cleanup() {
    local rc=$?
    log "stopping the test broker"
    "$ROOT/scripts/kafka.sh" down || true
    KAFKA_DIR="$ROOT/.kafka/test-3" KAFKA_PORT=19192 "$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true
    KAFKA_DIR="$ROOT/.kafka/lab" KAFKA_PORT=39092 "$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true
    echo "scripts/test.sh: finished in $(( $(date +%s) - started ))s (exit $rc)"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building the binaries the integration tests start"
cargo build "${CARGO_FLAGS[@]}" --bins --tests

log "starting Kafka on 127.0.0.1:$KAFKA_PORT"
"$ROOT/scripts/kafka.sh" down >/dev/null 2>&1 || true
"$ROOT/scripts/kafka.sh" up
GAPWATCH_TEST_BOOTSTRAP="$("$ROOT/scripts/kafka.sh" bootstrap)"
export GAPWATCH_TEST_BOOTSTRAP

# The extractors' fuzz pass runs with the integration tests (tests/fuzz_extract.rs).
export GAPWATCH_FUZZ_CASES="${GAPWATCH_FUZZ_CASES:-100000}"
log "integration tests against $GAPWATCH_TEST_BOOTSTRAP"
cargo test "${CARGO_FLAGS[@]}" --test '*' -- --test-threads 2

log "API contract: Schemathesis against /api/v1/openapi.json"
"$ROOT/scripts/api-contract.sh" "$GAPWATCH_TEST_BOOTSTRAP"

log "three-broker cluster: RF 3, min.insync.replicas=2, acks=all, and a clean down"
"$ROOT/scripts/kafka.sh" down
three_dir="$ROOT/.kafka/test-3"
KAFKA_DIR="$three_dir" KAFKA_PORT=19192 "$ROOT/scripts/kafka.sh" up --brokers 3
three_bootstrap="$(KAFKA_DIR="$three_dir" KAFKA_PORT=19192 "$ROOT/scripts/kafka.sh" bootstrap)"
KAFKA_DIR="$three_dir" KAFKA_PORT=19192 "$ROOT/scripts/kafka.sh" topic create replicated \
    --partitions 3 --replication-factor 3 --config min.insync.replicas=2
target/release/gapwatch loadgen --bootstrap-servers "$three_bootstrap" --topic replicated \
    --producers 3 --partitions 3 --messages 2000 --acks all
KAFKA_DIR="$three_dir" KAFKA_PORT=19192 "$ROOT/scripts/kafka.sh" down
if pgrep -f -- "$three_dir" >/dev/null; then
    echo "FAILED: a Java process of the three-broker cluster is still running" >&2
    exit 1
fi
echo "three-broker cluster: ok"

log "loss lab (quick): unclean election loses acked messages and gapwatch reports exactly them; a leader change loses and invents nothing"
LAB_NO_BUILD=1 "$ROOT/scripts/loss-lab.sh" --quick
