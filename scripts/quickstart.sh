#!/usr/bin/env bash
# The first command of the README: on a fresh machine, build gapwatch, start
# a real Kafka on loopback, start `gapwatch run`, send stamped traffic with
# injected loss, duplicates and reordering, wait until the loss is confirmed,
# and show what gapwatch found next to what was injected.
#
#   scripts/quickstart.sh        run the demo (gapwatch and Kafka keep running)
#   scripts/quickstart.sh down   stop gapwatch and Kafka and remove their data
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEMO="$ROOT/.kafka/quickstart"
PORT="${QUICKSTART_HTTP_PORT:-9477}"
URL="http://127.0.0.1:$PORT"
TOPIC="${QUICKSTART_TOPIC:-orders}"

say() { printf '\n==> %s\n' "$*"; }

stop_gapwatch() {
    if [ -f "$DEMO/gapwatch.pid" ]; then
        kill -TERM "$(cat "$DEMO/gapwatch.pid")" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$(cat "$DEMO/gapwatch.pid")" 2>/dev/null || break
            sleep 0.2
        done
        rm -f "$DEMO/gapwatch.pid"
    fi
}

if [ "${1:-}" = "down" ]; then
    stop_gapwatch
    rm -rf "$DEMO"
    "$ROOT/scripts/kafka.sh" down
    exit 0
fi

# shellcheck source=scripts/lib/deps.sh
source "$ROOT/scripts/lib/deps.sh"
say "installing what is missing"
ensure_build_deps

say "building gapwatch (the first build compiles librdkafka and RocksDB: about ten minutes)"
cargo build --release --locked --bin gapwatch
GAPWATCH="$ROOT/target/release/gapwatch"

say "starting Kafka"
"$ROOT/scripts/kafka.sh" up
BOOTSTRAP="$("$ROOT/scripts/kafka.sh" bootstrap)"

say "starting gapwatch (state in $DEMO/data, log in $DEMO/gapwatch.log)"
stop_gapwatch
rm -rf "$DEMO"
mkdir -p "$DEMO"
"$GAPWATCH" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$TOPIC" --create-topic \
    --partitions 3 --producers 1 --messages 0 >/dev/null
# The shipped config file, with a few settings overridden from the environment.
GAPWATCH_KAFKA__BOOTSTRAP_SERVERS="$BOOTSTRAP" \
GAPWATCH_AUDIT__0__TOPICS="[\"$TOPIC\"]" \
GAPWATCH_DETECTION__CONFIRM_AFTER="5s" \
GAPWATCH_STATE__DIR="$DEMO/data" \
GAPWATCH_HTTP__LISTEN="127.0.0.1:$PORT" \
    nohup "$GAPWATCH" run --config "$ROOT/config/gapwatch.toml" >"$DEMO/gapwatch.log" 2>&1 &
echo $! >"$DEMO/gapwatch.pid"
for _ in $(seq 1 300); do
    curl -fs "$URL/readyz" >/dev/null 2>&1 && break
    kill -0 "$(cat "$DEMO/gapwatch.pid")" 2>/dev/null || { tail -20 "$DEMO/gapwatch.log"; exit 1; }
    sleep 0.2
done

TRUTH="$DEMO/truth.json"
say "sending stamped traffic with loss, duplicates and reordering to '$TOPIC'"
"$GAPWATCH" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$TOPIC" \
    --producers 5 --partitions 3 --messages 2000 --seed "${QUICKSTART_SEED:-42}" \
    --drop-rate 0.002 --duplicate-rate 0.002 --reorder-rate 0.002 --malformed-rate 0.001 \
    --inject drop:0:1:1000-1009 --truth "$TRUTH"

expected=$(python3 -c "import json,sys; t=json.load(open(sys.argv[1])); print(sum(len(s['missing']) for s in t['streams']))" "$TRUTH")
say "waiting for gapwatch to confirm the loss (detection.confirm_after = 5s)"
for _ in $(seq 1 120); do
    confirmed=$("$GAPWATCH" gaps --url "$URL" --status confirmed --json | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
    [ "$confirmed" -ge "$expected" ] && break
    sleep 0.5
done

say "what gapwatch found (gapwatch gaps --url $URL)"
"$GAPWATCH" gaps --url "$URL"

say "what was injected (the ground truth in $TRUTH)"
python3 - "$TRUTH" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
print(f"{'PARTITION':<10} {'PRODUCER':<11} {'EPOCH':<6} MISSING")
n = 0
for s in sorted(t["streams"], key=lambda s: (s["partition"], s["producer"], s["epoch"])):
    for r in s["missing"]:
        n += 1
        rng = str(r["first_seq"]) if r["first_seq"] == r["last_seq"] else f"{r['first_seq']}-{r['last_seq']}"
        print(f"{s['partition']:<10} {s['producer']:<11} {s['epoch']:<6} {rng}")
dups = sum(len(s["duplicates"]) for s in t["streams"])
reorders = sum(len(s["reorders"]) for s in t["streams"])
print(f"\n{n} ranges dropped; also {dups} duplicates, {reorders} reorders and "
      f"{sum(t['malformed'].values())} malformed messages injected")
PY

cat <<MSG

Where to look next:
  $URL/api/v1/gaps                 the gaps as JSON (docs/API.md)
  $URL/api/v1/streams?topic=$TOPIC every stream's state
  $URL/metrics                     Prometheus metrics
  $GAPWATCH gaps --url $URL --status healed   reorders that healed

gapwatch (log: $DEMO/gapwatch.log) and Kafka ($BOOTSTRAP) keep running.
Stop both with: scripts/quickstart.sh down
MSG
