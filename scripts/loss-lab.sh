#!/usr/bin/env bash
# The loss lab: real data loss on a real three-broker Kafka cluster, and
# whether gapwatch reports exactly the messages that were lost.
#
#   scripts/loss-lab.sh [--quick] [--scenarios 1,2,3,4] [--out FILE]
#
# Each scenario gets its own topic (RF 3, one partition) on a fresh cluster
# (scripts/kafka.sh up --brokers 3, on 127.0.0.1:${LAB_KAFKA_PORT:-39092}),
# its own gapwatch auditing it from the first offset, and a loadgen writing
# at a steady rate while brokers are stopped and killed. Afterwards the topic
# is read back from its first offset (`gapwatch readback`): per stream, every
# number below the highest one still there that is not there is lost. The
# table says how many messages Kafka acknowledged, how many were lost (and
# how many of those it had acknowledged), how many gapwatch reported lost,
# and whether the two sets are identical.
#
#   1  acks=1, min.insync.replicas=1: the followers stop, the ISR shrinks to
#      the leader, the leader is killed (SIGKILL), a stale follower comes back
#      and unclean leader election is enabled: acknowledged messages are lost.
#   2  the same with unclean election disabled: the partition waits for the
#      old leader; nothing is lost.
#   3  acks=all, min.insync.replicas=2, the leader killed in the middle of the
#      writes: no acknowledged message is lost.
#   4  acks=0, the leader killed: whatever was lost is reported.
#
# --quick runs shorter scenarios 1, 2 and 3 (scripts/test.sh runs it).
# Exit status: 0 when every row is identical and each scenario's expectation
# (loss in 1 and 4, none acknowledged in 2 and 3) holds.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=lib/deps.sh
. "$ROOT/scripts/lib/deps.sh"

quick=0
scenarios="1,2,3,4"
out=""
while (($#)); do
    case $1 in
        --quick) quick=1; scenarios="1,2,3"; shift ;;
        --scenarios) scenarios=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "loss-lab: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

export KAFKA_PORT="${LAB_KAFKA_PORT:-39092}"
export KAFKA_DIR="${LAB_KAFKA_DIR:-$ROOT/.kafka/lab}"
WORK="${LAB_WORK_DIR:-$ROOT/target/loss-lab}"
KAFKA="$ROOT/scripts/kafka.sh"
GW="$ROOT/target/release/gapwatch"
HTTP_PORT="${LAB_HTTP_PORT:-39477}"
# Messages per second and seconds of writing per scenario.
RATE=1500
if ((quick)); then SECONDS_OF_WRITES=18; else SECONDS_OF_WRITES=24; fi

log() { echo "[loss-lab $(date +%H:%M:%S)] $*" >&2; }

gw_pid=""
loadgen_pid=""
cleanup() {
    local rc=$?
    [[ -n $gw_pid ]] && kill "$gw_pid" 2>/dev/null || true
    [[ -n $loadgen_pid ]] && kill "$loadgen_pid" 2>/dev/null || true
    "$KAFKA" down >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${LAB_NO_BUILD:-} ]]; then
    ensure_build_deps
    log "building gapwatch"
    cargo build --release --locked --bins
fi

rm -rf "$WORK"
mkdir -p "$WORK"
log "starting a fresh three-broker cluster on 127.0.0.1:$KAFKA_PORT"
"$KAFKA" down >/dev/null 2>&1 || true
"$KAFKA" up --brokers 3 >&2
BOOTSTRAP="$("$KAFKA" bootstrap)"

leader_of() { # topic -> broker id leading partition 0 (none: -1)
    "$KAFKA" topic describe "$1" 2>/dev/null | sed -n 's/.*Partition: 0.*Leader: \(-\{0,1\}[0-9]*\).*/\1/p' | head -1
}

wait_leader() { # topic, "any", a broker id or "not:ID", [seconds, default 60]
    local topic=$1 want=$2 l
    for _ in $(seq 1 "${3:-60}"); do
        l=$(leader_of "$topic")
        if [[ -n $l && $l != -1 && ( $want == any || $l == "$want" || ( $want == not:* && $l != "${want#not:}" ) ) ]]; then
            echo "$l"
            return 0
        fi
        sleep 1
    done
    return 1
}

start_gapwatch() { # scenario dir, topic
    local dir=$1 topic=$2
    cat >"$dir/gapwatch.toml" <<TOML
[kafka]
bootstrap_servers = "$BOOTSTRAP"
group_id = "lab-$topic"

[[audit]]
topics = ["$topic"]

[detection]
confirm_after = "2s"

[state]
dir = "$dir/state"
flush_interval = "100ms"

[http]
listen = "127.0.0.1:$HTTP_PORT"
TOML
    GAPWATCH_LOG=info "$GW" run --config "$dir/gapwatch.toml" >"$dir/gapwatch.log" 2>&1 &
    gw_pid=$!
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$gw_pid" 2>/dev/null || { cat "$dir/gapwatch.log" >&2; return 1; }
        sleep 0.2
    done
    log "gapwatch did not become ready"; cat "$dir/gapwatch.log" >&2; return 1
}

stop_gapwatch() {
    [[ -n $gw_pid ]] || return 0
    kill -TERM "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
    gw_pid=""
}

wait_caught_up() { # dir, topic: gapwatch's stored position reaches the end of every partition
    local dir=$1 topic=$2
    local ends
    ends=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(f"{p}:{v[1]}" for p,v in d["partitions"].items()))' "$dir/readback.json")
    for _ in $(seq 1 120); do
        if curl -fsS "http://127.0.0.1:$HTTP_PORT/api/v1/partitions?topic=$topic" 2>/dev/null | python3 -c '
import json, sys
have = {str(p["partition"]): p["next_offset"] for p in json.load(sys.stdin)["partitions"]}
ends = dict(e.split(":") for e in sys.argv[1].split())
sys.exit(0 if all(have.get(p, -1) >= int(v) for p, v in ends.items()) else 1)' "$ends"; then
            return 0
        fi
        sleep 0.5
    done
    log "gapwatch did not catch up with $topic"
    return 1
}

# scenario NUMBER ACKS MIN_ISR UNCLEAN(true|false) FAULT-FUNCTION DESCRIPTION
results=()
run_scenario() {
    local n=$1 acks=$2 min_isr=$3 unclean=$4 fault=$5 desc=$6
    local topic="lab-s$n" dir="$WORK/s$n"
    mkdir -p "$dir"
    log "scenario $n: acks=$acks, min.insync.replicas=$min_isr, unclean election $unclean: $desc"
    "$KAFKA" topic create "$topic" --partitions 1 --replication-factor 3 \
        --config "min.insync.replicas=$min_isr" \
        --config "unclean.leader.election.enable=$unclean" >/dev/null
    local leader
    leader=$(wait_leader "$topic" any)
    start_gapwatch "$dir" "$topic"
    local messages=$((RATE * SECONDS_OF_WRITES / 4)) # per producer
    "$GW" loadgen --bootstrap-servers "$BOOTSTRAP" --topic "$topic" --partitions 1 \
        --producers 4 --messages "$messages" --rate "$RATE" --acks "$acks" \
        --record-acks --allow-failures --truth "$dir/truth.json" \
        -X message.timeout.ms=60000 -X retry.backoff.ms=200 \
        --flush-timeout 90s >"$dir/loadgen.log" 2>&1 &
    loadgen_pid=$!
    "$fault" "$topic" "$leader" "$dir"
    wait "$loadgen_pid" || { log "loadgen failed:"; cat "$dir/loadgen.log" >&2; return 1; }
    loadgen_pid=""
    log "$(tail -1 "$dir/loadgen.log")"
    "$GW" readback --bootstrap-servers "$BOOTSTRAP" --topic "$topic" --out "$dir/readback.json" 2>>"$dir/loadgen.log"
    wait_caught_up "$dir" "$topic"
    sleep 3 # past confirm_after, so open gaps are confirmed
    local row
    row=$(python3 "$ROOT/scripts/lab/compare.py" "$dir/truth.json" "$dir/readback.json" \
        "http://127.0.0.1:$HTTP_PORT" "$topic")
    echo "$row" >"$dir/result.json"
    stop_gapwatch
    results+=("$n|$acks|$min_isr|$unclean|$desc|$row")
    log "scenario $n: $row"
}

brokers_except() { # id -> the other two broker ids
    local b out=()
    for b in 1 2 3; do [[ $b == "$1" ]] || out+=("$b"); done
    echo "${out[@]}"
}

# 1 and 2: followers stopped (ISR = leader), leader SIGKILLed, a stale
# follower restarted; then the old leader and the other follower come back.
fault_isr_shrink_then_kill() {
    local topic=$1 leader=$2 dir=$3
    local f1 f2
    read -r f1 f2 <<<"$(brokers_except "$leader")"
    sleep 3
    log "stopping followers $f1 and $f2: the ISR shrinks to leader $leader"
    "$KAFKA" stop-broker "$f1" >&2
    "$KAFKA" stop-broker "$f2" >&2
    sleep 3
    log "killing leader $leader (SIGKILL) and restarting stale follower $f1"
    "$KAFKA" stop-broker "$leader" --kill >&2
    "$KAFKA" start-broker "$f1" >&2
    local now
    if now=$(wait_leader "$topic" "$f1" 10) && [[ $now == "$f1" ]]; then
        log "broker $f1 was elected leader uncleanly"
    else
        log "no leader elected from the stale follower (as expected without unclean election)"
    fi
    sleep 2
    log "restarting the old leader $leader and follower $f2"
    "$KAFKA" start-broker "$leader" >&2
    "$KAFKA" start-broker "$f2" >&2
    echo "$f1" >"$dir/stale_follower"
}

# 3 and 4: the leader SIGKILLed in the middle of the writes, back later.
fault_kill_leader() {
    local topic=$1 leader=$2 dir=$3
    sleep 4
    log "killing leader $leader (SIGKILL) while loadgen writes"
    "$KAFKA" stop-broker "$leader" --kill >&2
    local now
    now=$(wait_leader "$topic" "not:$leader") && log "broker $now leads now"
    sleep 3
    log "restarting broker $leader"
    "$KAFKA" start-broker "$leader" >&2
}

IFS=, read -r -a chosen <<<"$scenarios"
for s in "${chosen[@]}"; do
    case $s in
        1) run_scenario 1 1 1 true fault_isr_shrink_then_kill "followers stopped, leader SIGKILLed, stale follower restarted" ;;
        2) run_scenario 2 1 1 false fault_isr_shrink_then_kill "followers stopped, leader SIGKILLed, stale follower restarted" ;;
        3) run_scenario 3 all 2 false fault_kill_leader "leader SIGKILLed mid-write" ;;
        4) run_scenario 4 0 1 false fault_kill_leader "leader SIGKILLed mid-write" ;;
        *) echo "loss-lab: no scenario '$s' (1-4)" >&2; exit 2 ;;
    esac
done

table=$(python3 - "${results[@]}" <<'PY'
import json, sys
rows = ["| # | acks | min.insync.replicas | unclean election | fault | acked | lost (read back) | of which acked | gapwatch reported lost | identical |",
        "|---|---|---|---|---|---|---|---|---|---|"]
ok = True
for arg in sys.argv[1:]:
    n, acks, isr, unclean, desc, row = arg.split("|", 5)
    r = json.loads(row)
    # With acks=0 every send counts as delivered: nothing is acknowledged.
    acked = "none (acks=0)" if acks == "0" else f"{r['acked']:,}"
    lost_acked = "-" if acks == "0" else f"{r['lost_acked']:,}"
    rows.append(f"| {n} | {acks} | {isr} | {'enabled' if unclean == 'true' else 'disabled'} | {desc} | {acked} | "
                f"{r['lost']:,} | {lost_acked} | {r['reported']:,} | {'identical' if r['identical'] else 'DIFFERENT'} |")
    expect = {"1": r["lost_acked"] > 0, "2": r["lost"] == 0, "3": r["lost_acked"] == 0, "4": True}[n]
    ok = ok and r["identical"] and expect
    if not expect:
        rows.append(f"|   | expectation of scenario {n} not met | | | | | | | | |")
print("\n".join(rows))
sys.exit(0 if ok else 1)
PY
) && status=0 || status=$?
echo "$table"
[[ -n $out ]] && echo "$table" >"$out"
exit "$status"
