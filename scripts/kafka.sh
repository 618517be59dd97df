#!/usr/bin/env bash
# Local Apache Kafka (KRaft) for gapwatch's tests and loss experiments.
#
# Everything listens on 127.0.0.1 only. The Kafka jars come from Maven Central
# through scripts/kafka/pom.xml (once per version; cached in .kafka/lib-<version>/).
#
# Usage: scripts/kafka.sh <command> [args]
#
#   up [--brokers N] [--combined]
#                      Start a cluster and wait until every broker answers a
#                      metadata request. N=1 (default): one broker+controller
#                      node (id 1). N>1: brokers 1..N on ports base..base+N-1
#                      plus three controller-only nodes (ids 101..103, ports
#                      base+100..base+102), so any broker can be killed
#                      without touching the controller quorum. --combined:
#                      instead, every broker is also a controller (quorum of
#                      N, controller ports base+100..). Already running: says
#                      so and exits 0.
#   down               Stop every node (SIGTERM, SIGKILL after
#                      KAFKA_STOP_TIMEOUT s) and delete the cluster's data.
#                      Nothing running is not an error.
#   status             One line per node; exit 0 only if all nodes run.
#   bootstrap [--brokers N]
#                      Print the bootstrap servers of the cluster (running or
#                      last started), else of the default layout.
#   stop-broker ID [--kill]
#                      Stop one node (SIGTERM and wait, or SIGKILL with --kill).
#                      Its data is kept.
#   start-broker ID    Start a stopped node again with its data; for a broker,
#                      wait until it is back in the cluster metadata.
#   topic create NAME --partitions P [--replication-factor R] [--config k=v ...]
#   topic delete NAME | topic describe [NAME] | topic list | topic alter NAME ...
#                      Kafka's TopicCommand against this cluster (extra
#                      arguments are passed through).
#   tool CLASS|ALIAS [args...]
#                      Run any Kafka tool class with Kafka's classpath, e.g.
#                      tool console-producer --bootstrap-server "$(scripts/kafka.sh bootstrap)" --topic t
#                      Aliases: topics console-producer console-consumer
#                      consumer-groups configs features metadata-quorum
#                      leader-election api-versions get-offsets producer-perf
#                      consumer-perf storage.
#   fetch              Only download the jars (e.g. in a CI setup step).
#
# Environment:
#   KAFKA_PORT           first broker port (default 9092); controllers use +100..
#   KAFKA_DIR            data/log directory (default <repo>/.kafka)
#   KAFKA_VERSION        Kafka release (default 4.1.2)
#   KAFKA_LIB_DIR        jar cache (default <repo>/.kafka/lib-$KAFKA_VERSION)
#   KAFKA_EXTRA_PROPS    extra server properties for every node: key=value
#                        lines, or one line of comma-separated key=value
#   KAFKA_ELR            0 (default): format the cluster with Eligible Leader
#                        Replicas (KIP-966) off, i.e. classic ISR semantics
#                        where unclean.leader.election.enable behaves as in
#                        ZooKeeper days; 1: Kafka 4.1+'s default (ELR on)
#   KAFKA_SASL_SSL_PORT  also listen with SASL_SSL (SCRAM-SHA-512) on this port
#                        (+N-1 for broker N); needs KAFKA_SSL_KEYSTORE (PKCS12)
#                        and KAFKA_SSL_KEYSTORE_PASSWORD
#   KAFKA_SCRAM_USERS    name:password,... SCRAM-SHA-512 users created at format
#   KAFKA_HEAP_OPTS      broker JVM heap (default "-Xmx512m -Xms256m")
#   KAFKA_CONTROLLER_HEAP_OPTS  controller-only JVM heap (default "-Xmx256m -Xms64m")
#   KAFKA_JVM_OPTS       other JVM options for nodes (default tuned for fast start)
#   KAFKA_TOOL_JVM_OPTS  JVM options for tools (default "-Xmx256m" + fast start)
#   KAFKA_START_TIMEOUT  seconds to wait for readiness (default 120)
#   KAFKA_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL (default 20)
#   KAFKA_CDS            1 (default): node 1 of the first cluster records a
#                        class-data-sharing archive of Kafka's classes when it
#                        stops cleanly (lib dir, cds-<java build>.jsa); later
#                        JVMs (nodes and tools) use it and start ~2x faster.
#                        0: neither record nor use it
#
# Layout of $KAFKA_DIR: cluster.env (what `up` started), node-<id>/ with
# server.properties, data/, broker.log (JVM stdout+stderr), logs/ (log4j:
# server.log, controller.log, state-change.log) and pid.

set -euo pipefail

PROG=kafka.sh

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}

say() {
  printf '%s: %s\n' "$PROG" "$*" >&2
}

# --- locations (builtins only up to the java check, so a broken PATH still
# --- gets a clear message) ----------------------------------------------------

script_path=${BASH_SOURCE[0]}
if [[ $script_path == */* ]]; then
  script_dir=${script_path%/*}
else
  script_dir=.
fi
SCRIPT_DIR=$(cd "$script_dir" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
POM_DIR=$SCRIPT_DIR/kafka

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_DIR=${KAFKA_DIR:-$REPO_ROOT/.kafka}
[[ $KAFKA_DIR == /* ]] || KAFKA_DIR=$PWD/$KAFKA_DIR
KAFKA_DIR=${KAFKA_DIR%/}
KAFKA_LIB_DIR=${KAFKA_LIB_DIR:-$REPO_ROOT/.kafka/lib-$KAFKA_VERSION}
[[ $KAFKA_LIB_DIR == /* ]] || KAFKA_LIB_DIR=$PWD/$KAFKA_LIB_DIR
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_ELR=${KAFKA_ELR:-0}
KAFKA_SASL_SSL_PORT=${KAFKA_SASL_SSL_PORT:-}
KAFKA_SSL_KEYSTORE=${KAFKA_SSL_KEYSTORE:-}
KAFKA_SSL_KEYSTORE_PASSWORD=${KAFKA_SSL_KEYSTORE_PASSWORD:-}
KAFKA_SCRAM_USERS=${KAFKA_SCRAM_USERS:-}
if [[ -n $KAFKA_SASL_SSL_PORT && -z $KAFKA_SSL_KEYSTORE ]]; then
  echo "kafka.sh: KAFKA_SASL_SSL_PORT needs KAFKA_SSL_KEYSTORE (a PKCS12 keystore) and KAFKA_SSL_KEYSTORE_PASSWORD" >&2
  exit 2
fi
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}
KAFKA_CONTROLLER_HEAP_OPTS=${KAFKA_CONTROLLER_HEAP_OPTS:--Xmx256m -Xms64m}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.awt.headless=true}
KAFKA_TOOL_JVM_OPTS=${KAFKA_TOOL_JVM_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.awt.headless=true}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-20}
KAFKA_EXTRA_PROPS=${KAFKA_EXTRA_PROPS:-}
KAFKA_CDS=${KAFKA_CDS:-1}
# JVM warnings go to stderr (by default the JVM prints them on stdout, which
# would mix them into tool output such as `topic list`).
JVM_LOG_OPTS=(-Xlog:disable -Xlog:all=warning:stderr)
JAVA_ID=

HOST=127.0.0.1
STATE_FILE=$KAFKA_DIR/cluster.env
# Every JVM started here carries this marker (plus its node dir), so `down`
# also finds nodes whose pid file got lost.
MARKER=-Dkafka.sh.node=

if ! [[ $KAFKA_PORT =~ ^[0-9]+$ ]] || ((KAFKA_PORT < 1 || KAFKA_PORT > 65300)); then
  die "KAFKA_PORT must be a port number (got '$KAFKA_PORT')"
fi
[[ $KAFKA_START_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be a number of seconds"
[[ $KAFKA_STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_STOP_TIMEOUT must be a number of seconds"

# --- prerequisites -----------------------------------------------------------

need_java() {
  command -v java >/dev/null 2>&1 ||
    die "java not found on PATH (Kafka $KAFKA_VERSION needs Java 17 or newer)"
  local out major
  out=$(java -version 2>&1) || die "'java -version' failed: ${out%%$'\n'*}"
  if [[ $out =~ \(build\ ([^,\)]+) ]]; then
    JAVA_ID=${BASH_REMATCH[1]//[^A-Za-z0-9._+-]/_}
  fi
  if [[ $out =~ version\ \"([0-9]+)(\.([0-9]+))? ]]; then
    major=${BASH_REMATCH[1]}
    [[ $major == 1 ]] && major=${BASH_REMATCH[3]}
    ((major >= 17)) || die "Java $major found, Kafka $KAFKA_VERSION needs Java 17 or newer"
  fi
}

need_tools() {
  local t
  for t in mkdir rm mv cat sleep; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' not found on PATH"
  done
}

lib_complete() {
  [[ -f $KAFKA_LIB_DIR/.complete && -f $KAFKA_LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar ]]
}

# Download Kafka's jars with Maven (only when the cache is incomplete).
fetch_libs() {
  lib_complete && return 0
  local parent=${KAFKA_LIB_DIR%/*} log tmp
  mkdir -p "$parent"
  log=$parent/mvn.log
  # One download at a time (parallel test runs may share the cache).
  exec 8>"$parent/.fetch.lock"
  if command -v flock >/dev/null 2>&1; then flock 8; fi
  if lib_complete; then
    exec 8>&-
    return 0
  fi
  command -v mvn >/dev/null 2>&1 ||
    die "mvn (Maven) not found on PATH: it is needed once to fetch Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIB_DIR"
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central (log: $log)"
  tmp=$KAFKA_LIB_DIR.tmp.$$
  rm -rf "$tmp"
  if ! mvn -B -f "$POM_DIR/pom.xml" "-Dkafka.version=$KAFKA_VERSION" \
    dependency:copy-dependencies "-DoutputDirectory=$tmp" -DincludeScope=runtime \
    >"$log" 2>&1 </dev/null 8>&-; then
    rm -rf "$tmp"
    exec 8>&-
    die "maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central (see $log)"
  fi
  if [[ ! -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]]; then
    rm -rf "$tmp"
    exec 8>&-
    die "maven ran but kafka_2.13-$KAFKA_VERSION.jar is missing from its output (see $log)"
  fi
  : >"$tmp/.complete"
  rm -rf "$KAFKA_LIB_DIR"
  mv "$tmp" "$KAFKA_LIB_DIR"
  exec 8>&-
}

prepare() {
  need_java
  need_tools
  fetch_libs
}

# --- JVMs --------------------------------------------------------------------

# Run a Kafka tool class in the foreground (stdin/stdout/stderr passed through).
run_tool() {
  local cls=$1 opts
  shift
  read -r -a opts <<<"$KAFKA_TOOL_JVM_OPTS"
  opts+=("${JVM_LOG_OPTS[@]}")
  cds_use_opts opts
  java "${opts[@]}" "-Dlog4j2.configurationFile=$POM_DIR/log4j2-tools.xml" \
    -cp "$KAFKA_LIB_DIR/*" "$cls" "$@"
}

tool_class() {
  case $1 in
    topics) echo org.apache.kafka.tools.TopicCommand ;;
    console-producer) echo org.apache.kafka.tools.ConsoleProducer ;;
    console-consumer) echo org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    consumer-groups) echo org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    configs) echo kafka.admin.ConfigCommand ;;
    features) echo org.apache.kafka.tools.FeatureCommand ;;
    metadata-quorum) echo org.apache.kafka.tools.MetadataQuorumCommand ;;
    leader-election) echo org.apache.kafka.tools.LeaderElectionCommand ;;
    api-versions) echo org.apache.kafka.tools.BrokerApiVersionsCommand ;;
    get-offsets) echo org.apache.kafka.tools.GetOffsetShell ;;
    producer-perf) echo org.apache.kafka.tools.ProducerPerformance ;;
    consumer-perf) echo org.apache.kafka.tools.ConsumerPerformance ;;
    storage) echo kafka.tools.StorageTool ;;
    *) echo "$1" ;;
  esac
}

# --- cluster layout ----------------------------------------------------------
# Set by load_state / plan_layout:
C_BROKERS=1         # number of brokers
C_MODE=combined     # combined | separate
C_PORT=$KAFKA_PORT  # base port
C_VERSION=$KAFKA_VERSION
C_ID=

plan_layout() { # brokers mode
  C_BROKERS=$1
  C_MODE=$2
  C_PORT=$KAFKA_PORT
  C_VERSION=$KAFKA_VERSION
}

load_state() {
  [[ -f $STATE_FILE ]] || return 1
  local key value
  while IFS='=' read -r key value; do
    case $key in
      brokers) C_BROKERS=$value ;;
      mode) C_MODE=$value ;;
      port) C_PORT=$value ;;
      version) C_VERSION=$value ;;
      cluster_id) C_ID=$value ;;
    esac
  done <"$STATE_FILE"
  [[ $C_BROKERS =~ ^[0-9]+$ && $C_PORT =~ ^[0-9]+$ ]] || die "corrupt $STATE_FILE (run '$PROG down')"
}

# Tools and restarted nodes use the jars of the version the cluster runs.
adopt_state_version() {
  if [[ $C_VERSION != "$KAFKA_VERSION" ]]; then
    KAFKA_VERSION=$C_VERSION
    KAFKA_LIB_DIR=${KAFKA_LIB_DIR%/*}/lib-$KAFKA_VERSION
  fi
}

save_state() {
  printf 'brokers=%s\nmode=%s\nport=%s\nversion=%s\ncluster_id=%s\n' \
    "$C_BROKERS" "$C_MODE" "$C_PORT" "$C_VERSION" "$C_ID" >"$STATE_FILE"
}

broker_ids() {
  local i
  for ((i = 1; i <= C_BROKERS; i++)); do printf '%s ' "$i"; done
}

controller_only_ids() {
  [[ $C_MODE == separate ]] && printf '101 102 103 '
  return 0
}

all_ids() {
  broker_ids
  controller_only_ids
}

is_broker() { (($1 >= 1 && $1 <= C_BROKERS)); }

is_controller() {
  [[ $C_MODE == combined ]] && is_broker "$1" && return 0
  [[ $C_MODE == separate ]] && (($1 >= 101 && $1 <= 103))
}

broker_port() { echo $((C_PORT + $1 - 1)); }

controller_port() {
  if (($1 >= 101)); then echo $((C_PORT + 100 + $1 - 101)); else echo $((C_PORT + 100 + $1 - 1)); fi
}

role_of() {
  if is_broker "$1" && is_controller "$1"; then
    echo broker,controller
  elif is_broker "$1"; then
    echo broker
  else
    echo controller
  fi
}

node_dir() { echo "$KAFKA_DIR/node-$1"; }

bootstrap_servers() {
  local id out=
  for id in $(broker_ids); do out+=${out:+,}$HOST:$(broker_port "$id"); done
  echo "$out"
}

quorum_voters() {
  local id out=
  for id in $(all_ids); do
    is_controller "$id" && out+=${out:+,}$id@$HOST:$(controller_port "$id")
  done
  echo "$out"
}

# --- processes ---------------------------------------------------------------

node_pid() { # prints the pid of a live node, fails otherwise
  local dir pid
  dir=$(node_dir "$1")
  [[ -f $dir/pid ]] || return 1
  pid=$(<"$dir/pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" "$dir" || return 1
  echo "$pid"
}

# the command line of a process, arguments joined by spaces (plus a trailing one)
read_cmdline() { # pid
  local parts=() IFS=' '
  mapfile -d '' -t parts <"/proc/$1/cmdline" 2>/dev/null || return 1
  ((${#parts[@]})) || return 1
  printf '%s ' "${parts[*]}"
}

pid_alive() { # pid [node dir]: running (not a zombie) and, if given, ours
  local pid=$1 dir=${2:-} stat cmdline
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/stat ]]; then
    stat=$(<"/proc/$pid/stat") || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]] || return 1
    if [[ -n $dir ]]; then
      cmdline=$(read_cmdline "$pid") || return 1
      [[ $cmdline == *"$MARKER$dir "* ]] || return 1
    fi
  fi
  return 0
}

# pids of every JVM started for this KAFKA_DIR (pid files or not)
marked_pids() {
  local p cmdline
  [[ -d /proc ]] || return 0
  for p in /proc/[0-9]*; do
    cmdline=$(read_cmdline "${p#/proc/}") || continue
    [[ $cmdline == *"$MARKER$KAFKA_DIR/node-"* ]] || continue
    pid_alive "${p#/proc/}" && printf '%s ' "${p#/proc/}"
  done
  return 0
}

port_open() { # port: something accepts connections on 127.0.0.1:port
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

write_props() { # id
  local id=$1 dir roles rf minisr listeners line
  dir=$(node_dir "$id")
  roles=$(role_of "$id")
  rf=$((C_BROKERS < 3 ? C_BROKERS : 3))
  minisr=$((rf < 2 ? rf : 2))
  local advertised="PLAINTEXT://$HOST:$(broker_port "$id")"
  if [[ -n $KAFKA_SASL_SSL_PORT ]] && is_broker "$id"; then
    advertised+=",SASL_SSL://$HOST:$((KAFKA_SASL_SSL_PORT + id - 1))"
  fi
  if is_broker "$id" && is_controller "$id"; then
    listeners="$advertised,CONTROLLER://$HOST:$(controller_port "$id")"
  elif is_broker "$id"; then
    listeners="$advertised"
  else
    listeners="CONTROLLER://$HOST:$(controller_port "$id")"
  fi
  {
    echo "# written by scripts/kafka.sh up; KAFKA_EXTRA_PROPS are appended at the end"
    echo "node.id=$id"
    echo "process.roles=$roles"
    echo "controller.quorum.voters=$(quorum_voters)"
    echo "controller.listener.names=CONTROLLER"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    echo "listeners=$listeners"
    if is_broker "$id"; then
      echo "advertised.listeners=$advertised"
      echo "inter.broker.listener.name=PLAINTEXT"
    fi
    if [[ -n $KAFKA_SASL_SSL_PORT ]] && is_broker "$id"; then
      echo "sasl.enabled.mechanisms=SCRAM-SHA-512"
      echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
      echo "ssl.keystore.type=PKCS12"
      echo "ssl.keystore.location=$KAFKA_SSL_KEYSTORE"
      echo "ssl.keystore.password=$KAFKA_SSL_KEYSTORE_PASSWORD"
      echo "ssl.key.password=$KAFKA_SSL_KEYSTORE_PASSWORD"
    fi
    echo "log.dirs=$dir/data"
    echo "num.partitions=1"
    echo "offsets.topic.replication.factor=$rf"
    echo "transaction.state.log.replication.factor=$rf"
    echo "transaction.state.log.min.isr=$minisr"
    echo "share.coordinator.state.topic.replication.factor=$rf"
    echo "share.coordinator.state.topic.min.isr=$minisr"
    echo "group.initial.rebalance.delay.ms=0"
    # How often the KRaft controller looks for leaderless partitions that it
    # may elect uncleanly (when unclean.leader.election.enable=true). Kafka's
    # default is 5 minutes; a test cluster wants it prompt.
    echo "unclean.leader.election.interval.ms=1000"
    echo "num.network.threads=2"
    echo "num.io.threads=4"
    echo "num.recovery.threads.per.data.dir=1"
    if [[ -n $KAFKA_EXTRA_PROPS ]]; then
      echo "# KAFKA_EXTRA_PROPS"
      if [[ $KAFKA_EXTRA_PROPS == *$'\n'* ]]; then
        printf '%s\n' "$KAFKA_EXTRA_PROPS"
      else
        local extra=()
        IFS=, read -r -a extra <<<"$KAFKA_EXTRA_PROPS"
        for line in "${extra[@]}"; do printf '%s\n' "$line"; done
      fi
    fi
  } >"$dir/server.properties"
}

format_node() { # id -> background job
  local id=$1 dir
  dir=$(node_dir "$id")
  local args=(format --config "$dir/server.properties" --cluster-id "$C_ID")
  if is_controller "$id"; then
    args+=(--feature "eligible.leader.replicas.version=$KAFKA_ELR")
  fi
  local user
  if [[ -n $KAFKA_SCRAM_USERS ]]; then
    IFS=, read -r -a users <<<"$KAFKA_SCRAM_USERS"
    for user in "${users[@]}"; do
      args+=(--add-scram "SCRAM-SHA-512=[name=${user%%:*},password=${user#*:}]")
    done
  fi
  run_tool kafka.tools.StorageTool "${args[@]}" >"$dir/format.log" 2>&1 </dev/null
}

start_node() { # id
  local id=$1 dir heap opts pid
  dir=$(node_dir "$id")
  if is_broker "$id"; then
    read -r -a heap <<<"$KAFKA_HEAP_OPTS"
  else
    read -r -a heap <<<"$KAFKA_CONTROLLER_HEAP_OPTS"
  fi
  read -r -a opts <<<"$KAFKA_JVM_OPTS"
  opts+=("${JVM_LOG_OPTS[@]}")
  mkdir -p "$dir/logs"
  rm -f "$dir/pid" "$dir/cds.pending"
  local training=
  if [[ $KAFKA_CDS != 0 && -n $JAVA_ID && ! -f $(cds_archive) ]] && [[ $id == 1 ]]; then
    # No class-data-sharing archive yet: this node records one when it exits
    # normally (down / stop-broker without --kill); later JVMs start faster.
    training=$(cds_archive).tmp-$$-$id
    opts+=("-XX:ArchiveClassesAtExit=$training")
  else
    cds_use_opts opts
  fi
  local cmd=(java "${heap[@]}" "${opts[@]}" "$MARKER$dir"
    "-Dlog4j2.configurationFile=$POM_DIR/log4j2.xml" "-Dkafka.logs.dir=$dir/logs"
    -cp "$KAFKA_LIB_DIR/*" kafka.Kafka "$dir/server.properties")
  # A new session, so the node outlives this script and its terminal; the
  # shell records its own pid and becomes the JVM (exec keeps the pid).
  local launcher=()
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)
  # shellcheck disable=SC2016 # $$ is for the inner shell
  (cd "$dir" && exec "${launcher[@]}" bash -c 'echo $$ >"$1"; shift; exec "$@"' kafka-node "$dir/pid" "${cmd[@]}") \
    >>"$dir/broker.log" 2>&1 </dev/null 8>&- 9>&- &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $dir/pid ]] && break
    sleep 0.05
  done
  pid=$(<"$dir/pid") || die "node $id did not start (see $dir/broker.log)"
  [[ -z $training ]] || printf '%s %s\n' "$pid" "$training" >"$dir/cds.pending"
  say "started node $id ($(role_of "$id")) pid $pid, log $dir/broker.log"
}

# --- class-data sharing (AppCDS): a dynamic archive of Kafka's classes, made
# --- by a node of the first cluster, halves JVM start-up on this 2-core box.

cds_archive() { echo "$KAFKA_LIB_DIR/cds-$JAVA_ID.jsa"; }

cds_use_opts() { # name of an array to append the option to
  local -n arr=$1
  if [[ $KAFKA_CDS != 0 && -n $JAVA_ID && -f $(cds_archive) ]]; then
    arr+=("-XX:SharedArchiveFile=$(cds_archive)")
  fi
  return 0
}

# After nodes stopped: keep an archive that a node wrote when this script
# stopped it with SIGTERM (it exited cleanly); drop any other.
cds_collect() {
  local f pid tmp
  for f in "$KAFKA_DIR"/node-*/cds.pending; do
    [[ -f $f ]] || continue
    read -r pid tmp <"$f" || true
    if [[ -n ${pid:-} ]] && pid_alive "$pid"; then continue; fi
    rm -f "$f"
    [[ -n ${tmp:-} && -f $tmp ]] || continue
    if [[ -s $tmp && " $CLEAN_STOPPED " == *" $pid "* ]]; then
      mv -f "$tmp" "${tmp%.tmp-*}"
    else
      rm -f "$tmp"
    fi
  done
  return 0
}

CLEAN_STOPPED=

# Send a signal and wait until the processes are gone. Sets SW_LEFT to the
# pids still alive after the timeout (then returns 1).
SW_LEFT=
signal_and_wait() { # signal timeout pid...
  local sig=$1 timeout=$2 pid deadline left=()
  shift 2
  for pid; do kill "-$sig" "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + timeout))
  while :; do
    left=()
    for pid; do pid_alive "$pid" && left+=("$pid"); done
    if ((${#left[@]} == 0)); then
      SW_LEFT=
      [[ $sig == TERM ]] && CLEAN_STOPPED+=" $*"
      return 0
    fi
    ((SECONDS >= deadline)) && break
    sleep 0.2
  done
  SW_LEFT=${left[*]}
  return 1
}

stop_pids() { # stop gracefully, then SIGKILL
  (($# == 0)) && return 0
  if ! signal_and_wait TERM "$KAFKA_STOP_TIMEOUT" "$@"; then
    local remaining=$SW_LEFT
    say "still running after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL to: $remaining"
    # shellcheck disable=SC2086 # word splitting wanted
    signal_and_wait KILL 10 $remaining || say "could not kill: $SW_LEFT"
  fi
}

show_log_tail() { # id
  local dir log
  dir=$(node_dir "$1")
  log=$dir/broker.log
  printf '%s: node %s log: %s (last 30 lines):\n' "$PROG" "$1" "$log" >&2
  if [[ -f $log ]]; then
    tail -n 30 "$log" | sed 's/^/  | /' >&2
  else
    echo "  | (no log)" >&2
  fi
}

# Ask the cluster for metadata (BrokerApiVersionsCommand sends a Metadata
# request and lists the brokers it returns); succeed if all given broker ids
# are there.
brokers_in_metadata() { # limit-seconds bootstrap id...
  local limit=$1 bootstrap=$2 out id cfg=$KAFKA_DIR/probe.properties
  shift 2
  [[ -f $cfg ]] || printf '%s\n' request.timeout.ms=5000 default.api.timeout.ms=10000 \
    socket.connection.setup.timeout.ms=2000 socket.connection.setup.timeout.max.ms=2000 >"$cfg"
  out=$(
    read -r -a opts <<<"$KAFKA_TOOL_JVM_OPTS"
    opts+=("${JVM_LOG_OPTS[@]}")
    cds_use_opts opts
    timeout "$limit" java "${opts[@]}" "-Dlog4j2.configurationFile=$POM_DIR/log4j2-tools.xml" \
      -cp "$KAFKA_LIB_DIR/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
      --bootstrap-server "$bootstrap" --command-config "$cfg" 2>&1 </dev/null 8>&- 9>&-
  ) || return 1
  for id; do
    [[ $out == *"(id: $id "* ]] || return 1
  done
}

# Wait until the given nodes serve: every broker port accepts connections and
# the metadata lists each broker. Fails (with log tails) if a node dies or the
# timeout passes.
wait_ready() { # id...
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) id ok limit brokers=() bootstrap=
  for id; do
    if is_broker "$id"; then
      brokers+=("$id")
      bootstrap+=${bootstrap:+,}$HOST:$(broker_port "$id")
    fi
  done
  while :; do
    for id; do
      if ! node_pid "$id" >/dev/null; then
        say "node $id exited during startup"
        show_log_tail "$id"
        return 1
      fi
    done
    ok=1
    for id; do
      if is_broker "$id"; then
        port_open "$(broker_port "$id")" || ok=0
      else
        port_open "$(controller_port "$id")" || ok=0
      fi
    done
    limit=$((deadline - SECONDS + 5))
    ((limit > 30)) && limit=30
    if ((ok)) && { ((${#brokers[@]} == 0)) || brokers_in_metadata "$limit" "$bootstrap" "${brokers[@]}"; }; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      say "not ready after ${KAFKA_START_TIMEOUT}s (nodes: $*)"
      for id; do show_log_tail "$id"; done
      return 1
    fi
    sleep 0.5
  done
}

lock_dir() {
  mkdir -p "$KAFKA_DIR"
  exec 9>"$KAFKA_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 300 9 || die "another $PROG is busy with $KAFKA_DIR"
  fi
}

running_ids() {
  local id
  for id in $(all_ids); do node_pid "$id" >/dev/null && printf '%s ' "$id"; done
  return 0
}

# --- commands ----------------------------------------------------------------

cmd_up() {
  local nbrokers=1 mode=
  while (($#)); do
    case $1 in
      --brokers)
        [[ ${2:-} =~ ^[1-9]$ ]] || die "--brokers needs a number 1..9"
        nbrokers=$2
        shift 2
        ;;
      --brokers=*)
        nbrokers=${1#--brokers=}
        [[ $nbrokers =~ ^[1-9]$ ]] || die "--brokers needs a number 1..9"
        shift
        ;;
      --combined) mode=combined; shift ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  if [[ -z $mode ]]; then
    if ((nbrokers == 1)); then mode=combined; else mode=separate; fi
  fi
  prepare
  lock_dir

  if load_state; then
    local running
    running=$(running_ids)
    if [[ -n $running ]]; then
      if [[ $C_BROKERS != "$nbrokers" || $C_MODE != "$mode" ]]; then
        die "a different cluster is already running in $KAFKA_DIR ($C_BROKERS broker(s), $C_MODE controllers); run '$PROG down' first"
      fi
      say "already running ($C_BROKERS broker(s), nodes up: ${running% })"
      bootstrap_servers
      return 0
    fi
    say "removing data of a previous cluster that is no longer running"
    cds_collect
    remove_data
  fi
  # JVMs of this dir without a state file (e.g. state removed by hand)
  local strays
  strays=$(marked_pids)
  # shellcheck disable=SC2086 # word splitting wanted
  [[ -z $strays ]] || { say "stopping stray nodes: $strays"; stop_pids $strays; }

  plan_layout "$nbrokers" "$mode"
  local id port ports=()
  for id in $(all_ids); do
    is_broker "$id" && ports+=("$(broker_port "$id")")
    is_controller "$id" && ports+=("$(controller_port "$id")")
  done
  for port in "${ports[@]}"; do
    port_open "$port" && die "port $HOST:$port is already in use (another Kafka? set KAFKA_PORT)"
  done

  local t0=$SECONDS
  C_ID=$(new_cluster_id)
  mkdir -p "$KAFKA_DIR"
  for id in $(all_ids); do
    mkdir -p "$(node_dir "$id")/data" "$(node_dir "$id")/logs"
    write_props "$id"
  done
  save_state

  # format all nodes in parallel
  local pids=() failed=
  for id in $(all_ids); do
    format_node "$id" 8>&- 9>&- &
    pids+=("$!:$id")
  done
  local entry
  for entry in "${pids[@]}"; do
    if ! wait "${entry%%:*}"; then
      id=${entry#*:}
      say "kafka-storage format failed for node $id:"
      sed 's/^/  | /' "$(node_dir "$id")/format.log" >&2 || true
      failed=1
    fi
  done
  [[ -z $failed ]] || die "could not format the storage (see $KAFKA_DIR/node-*/format.log)"

  # controllers first: brokers register with them
  for id in $(controller_only_ids) $(broker_ids); do start_node "$id"; done

  # shellcheck disable=SC2046 # word splitting wanted
  if ! wait_ready $(all_ids); then
    say "stopping the nodes that were started; data and logs kept in $KAFKA_DIR"
    # shellcheck disable=SC2046 # word splitting wanted
    stop_pids $(marked_pids)
    cds_collect
    exit 1
  fi
  say "Kafka $C_VERSION up in $((SECONDS - t0))s: $C_BROKERS broker(s) ($C_MODE controllers), cluster id $C_ID"
  bootstrap_servers
}

# Kafka's Uuid: 16 random bytes, URL-safe base64 without padding; Kafka
# itself never hands out ids that start with '-'.
new_cluster_id() {
  local id
  if command -v base64 >/dev/null 2>&1 && command -v head >/dev/null 2>&1; then
    while :; do
      id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
      [[ ${#id} == 22 && $id != -* ]] && break
    done
    echo "$id"
  else
    run_tool kafka.tools.StorageTool random-uuid </dev/null
  fi
}

remove_data() {
  local d
  for d in "$KAFKA_DIR"/node-*; do
    [[ -e $d ]] && rm -rf "$d"
  done
  rm -f "$STATE_FILE" "$KAFKA_DIR/probe.properties"
}

cmd_down() {
  (($# == 0)) || die "down takes no arguments"
  need_tools
  if [[ ! -d $KAFKA_DIR ]]; then
    say "nothing running (no $KAFKA_DIR)"
    return 0
  fi
  lock_dir
  local id pid brokers=() others=()
  if load_state; then
    for id in $(all_ids); do
      pid=$(node_pid "$id") || continue
      if is_broker "$id" && ! is_controller "$id"; then brokers+=("$pid"); else others+=("$pid"); fi
    done
  fi
  if ((${#brokers[@]} + ${#others[@]})); then
    say "stopping $((${#brokers[@]} + ${#others[@]})) node(s)"
  fi
  # brokers first (their controlled shutdown needs the controllers), then the rest
  stop_pids "${brokers[@]}"
  stop_pids "${others[@]}"
  local strays
  strays=$(marked_pids)
  if [[ -n $strays ]]; then
    say "stopping leftover Kafka JVMs of $KAFKA_DIR: $strays"
    # shellcheck disable=SC2086 # word splitting wanted
    stop_pids $strays
  fi
  cds_collect
  remove_data
  rm -f "$KAFKA_DIR/.lock"
  if [[ $KAFKA_DIR != "$REPO_ROOT/.kafka" ]]; then
    rmdir "$KAFKA_DIR" 2>/dev/null || true
  fi
  say "down (data removed)"
}

cmd_status() {
  if ! load_state; then
    echo "not running (no cluster in $KAFKA_DIR)"
    return 1
  fi
  local id pid all=0 up=0 ports
  echo "Kafka $C_VERSION, $C_BROKERS broker(s), $C_MODE controllers, dir $KAFKA_DIR"
  for id in $(all_ids); do
    all=$((all + 1))
    ports=
    is_broker "$id" && ports=$HOST:$(broker_port "$id")
    is_controller "$id" && ports+=${ports:+ }ctl:$(controller_port "$id")
    if pid=$(node_pid "$id"); then
      up=$((up + 1))
      printf 'node %-4s %-18s %-28s pid %-8s running\n' "$id" "$(role_of "$id")" "$ports" "$pid"
    else
      printf 'node %-4s %-18s %-28s %-12s stopped\n' "$id" "$(role_of "$id")" "$ports" ""
    fi
  done
  echo "bootstrap: $(bootstrap_servers)"
  ((up == all))
}

cmd_bootstrap() {
  if load_state; then
    bootstrap_servers
    return 0
  fi
  local nbrokers=1
  if [[ ${1:-} == --brokers ]]; then
    [[ ${2:-} =~ ^[1-9]$ ]] || die "--brokers needs a number 1..9"
    nbrokers=$2
  fi
  plan_layout "$nbrokers" combined
  bootstrap_servers
}

cmd_stop_broker() {
  local id=${1:-} kill=
  [[ $id =~ ^[0-9]+$ ]] || die "usage: $PROG stop-broker ID [--kill]"
  shift
  case ${1:-} in
    --kill) kill=1 ;;
    "") ;;
    *) die "stop-broker: unknown argument '$1'" ;;
  esac
  need_tools
  load_state || die "no cluster in $KAFKA_DIR"
  [[ " $(all_ids)" == *" $id "* ]] || die "no node $id in this cluster (nodes: $(all_ids))"
  lock_dir
  local pid
  if ! pid=$(node_pid "$id"); then
    say "node $id is not running"
    return 0
  fi
  if [[ -n $kill ]]; then
    signal_and_wait KILL 10 "$pid" || die "node $id (pid $pid) survived SIGKILL"
    say "killed node $id (pid $pid, SIGKILL)"
  else
    stop_pids "$pid"
    say "stopped node $id (pid $pid)"
  fi
  rm -f "$(node_dir "$id")/pid"
  cds_collect
}

cmd_start_broker() {
  local id=${1:-}
  [[ $id =~ ^[0-9]+$ ]] || die "usage: $PROG start-broker ID"
  load_state || die "no cluster in $KAFKA_DIR (use '$PROG up')"
  adopt_state_version
  [[ " $(all_ids)" == *" $id "* ]] || die "no node $id in this cluster (nodes: $(all_ids))"
  prepare
  lock_dir
  local pid
  if pid=$(node_pid "$id"); then
    say "node $id is already running (pid $pid)"
    return 0
  fi
  local t0=$SECONDS port
  if is_broker "$id"; then port=$(broker_port "$id"); else port=$(controller_port "$id"); fi
  port_open "$port" && die "port $HOST:$port is already in use"
  echo "--- restarted by $PROG start-broker ---" >>"$(node_dir "$id")/broker.log"
  start_node "$id"
  if ! wait_ready "$id"; then
    pid=$(node_pid "$id") && stop_pids "$pid"
    exit 1
  fi
  say "node $id is back after $((SECONDS - t0))s"
}

cmd_topic() {
  local sub=${1:-}
  (($#)) && shift
  load_state && adopt_state_version
  prepare
  local bs
  bs=$(bootstrap_servers)
  case $sub in
    create | delete | alter)
      (($#)) || die "usage: $PROG topic $sub NAME [args...]"
      local name=$1
      shift
      run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" "--$sub" --topic "$name" "$@"
      ;;
    describe)
      if (($#)) && [[ $1 != -* ]]; then
        local name=$1
        shift
        run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --describe --topic "$name" "$@"
      else
        run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --describe "$@"
      fi
      ;;
    list)
      run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --list "$@"
      ;;
    *) die "usage: $PROG topic create|delete|describe|alter|list [NAME] [args...]" ;;
  esac
}

cmd_tool() {
  (($#)) || die "usage: $PROG tool CLASS|ALIAS [args...]"
  local cls
  cls=$(tool_class "$1")
  shift
  load_state && adopt_state_version
  prepare
  run_tool "$cls" "$@"
}

usage() {
  local line
  while IFS= read -r line; do
    [[ $line == '#!'* ]] && continue
    [[ $line == '#'* ]] || break
    line=${line#\#}
    printf '%s\n' "${line# }"
  done <"$script_path"
}

main() {
  local command_name=${1:-help}
  (($#)) && shift
  case $command_name in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    bootstrap) cmd_bootstrap "$@" ;;
    stop-broker) cmd_stop_broker "$@" ;;
    start-broker) cmd_start_broker "$@" ;;
    topic) cmd_topic "$@" ;;
    tool) cmd_tool "$@" ;;
    fetch) prepare ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
