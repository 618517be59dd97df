#!/usr/bin/env bash
# Runs Schemathesis against a live gapwatch's /api/v1, driven by the OpenAPI
# document gapwatch serves (/api/v1/openapi.json): generated and mutated
# requests of every operation, with a bearer token set. Fails on any 5xx,
# on any response that does not match the document (status code, content
# type, JSON schema), on a malformed request that is accepted, and on an
# unsupported method not answered with a documented error.
#
#   scripts/api-contract.sh BOOTSTRAP_SERVERS [EXAMPLES]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=lib/deps.sh
. "$ROOT/scripts/lib/deps.sh"
BOOTSTRAP=${1:?usage: api-contract.sh BOOTSTRAP_SERVERS [EXAMPLES]}
EXAMPLES=${2:-60}
GW="$ROOT/target/release/gapwatch"
VENV="$ROOT/.venv/schemathesis"
ensure_schemathesis "$VENV"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token="contract-$RANDOM$RANDOM"
topic="contract-$RANDOM$RANDOM"
gw_pid=""
cleanup() {
    [[ -n $gw_pid ]] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Some state to answer about: gaps of every status, and alerts that die.
"$GW" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$topic" --create-topic \
    --partitions 2 --producers 3 --messages 300 --drop-rate 0.05 --reorder-rate 0.02 >/dev/null
cat >"$work/gapwatch.toml" <<TOML
[kafka]
bootstrap_servers = "$BOOTSTRAP"
group_id = "$topic"
[[audit]]
topics = ["$topic"]
[detection]
confirm_after = "1s"
[state]
dir = "$work/state"
[http]
listen = "127.0.0.1:$port"
auth_token = "$token"
[alert]
max_age = "1s"
[[alert.webhook]]
url = "http://127.0.0.1:9/unreachable"
TOML
"$GW" run --config "$work/gapwatch.toml" >"$work/gapwatch.log" 2>&1 &
gw_pid=$!
for _ in $(seq 1 100); do
    if curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/gaps?limit=1" 2>/dev/null | grep -q first_seq; then
        break
    fi
    sleep 0.2
done
sleep 3 # gaps confirmed, alerts dead-lettered

"$VENV/bin/st" run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --url "http://127.0.0.1:$port/api/v1" \
    -H "Authorization: Bearer $token" \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$EXAMPLES" --seed 1 --no-color
