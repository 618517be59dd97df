#!/usr/bin/env bash
# The first command of the README: build gapwatch, start a real Kafka on
# loopback, and send stamped traffic with injected loss, duplicates and
# reordering, then show what was injected.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"

say() { printf '\n==> %s\n' "$*"; }

say "installing what is missing"
ensure_build_deps

say "building gapwatch (the first build compiles librdkafka and RocksDB: ~10 minutes)"
cargo build --release --locked --bin gapwatch
GAPWATCH="$ROOT/target/release/gapwatch"

say "starting Kafka"
"$ROOT/scripts/kafka.sh" up
BOOTSTRAP="$("$ROOT/scripts/kafka.sh" bootstrap)"

TOPIC="${QUICKSTART_TOPIC:-orders}"
TRUTH="$ROOT/.kafka/quickstart-truth.json"
say "sending stamped traffic with loss to '$TOPIC' on $BOOTSTRAP"
"$GAPWATCH" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$TOPIC" --create-topic \
    --producers 5 --partitions 3 --messages 2000 --seed "${QUICKSTART_SEED:-$RANDOM}" \
    --drop-rate 0.002 --duplicate-rate 0.002 --reorder-rate 0.002 --malformed-rate 0.001 \
    --truth "$TRUTH"

say "what was injected (the ground truth, $TRUTH)"
python3 - "$TRUTH" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
print(f"{'partition':>9}  {'producer':<12} {'epoch':>5}  missing ranges (first-last)")
for s in t["streams"]:
    if s["missing"]:
        ranges = ", ".join(f"{r['first_seq']}-{r['last_seq']}" for r in s["missing"])
        print(f"{s['partition']:>9}  {s['producer']:<12} {s['epoch']:>5}  {ranges}")
dups = sum(len(s["duplicates"]) for s in t["streams"])
reorders = sum(len(s["reorders"]) for s in t["streams"])
print(f"\nsent {t['sent']} messages: {dups} duplicates, {reorders} reorders, "
      f"{sum(t['malformed'].values())} malformed")
PY

cat <<MSG

Kafka keeps running on $BOOTSTRAP: stop it with scripts/kafka.sh down.
Send more with: $GAPWATCH loadgen --help
MSG
