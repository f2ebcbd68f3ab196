#!/usr/bin/env bash
# A local Redis Cluster of tessera-server nodes on one machine, made the way operators make
# one with redis-server: cluster-enabled nodes joined by `redis-cli --cluster create`.
#
# Usage: scripts/cluster.sh [start|create|stop|clean|status] [options] [-- server args...]
#   (no command)  start, then create: a ready cluster, as the README's run command
#   start         start NODES nodes (or the missing ones) and wait until each answers PING
#   create        `redis-cli --cluster create` over them, then wait until every node reports
#                 cluster_state:ok with all slots assigned and every replica attached;
#                 a cluster that already formed (nodes.conf kept from an earlier run) is
#                 only waited for
#   stop          SIGTERM the PIDs recorded under DATA_DIR, SIGKILL what is left after
#                 STOP_TIMEOUT seconds; nothing else is ever signalled
#   clean         stop, then delete DATA_DIR
#   status        one line per recorded node; exits 0 only if all run and report ok
#
# Settings (environment, or the option in brackets):
#   SERVER        binary to run [--server]; default target/release/tessera-server, built
#                 with cargo when missing (only then). SERVER=redis-server runs real Redis.
#   NODES=6 [--nodes]  REPLICAS=1 [--replicas]  PORT=7000 [--port] (first port; each node's
#   bus port is its port + 10000)  NODE_TIMEOUT=5000 [--node-timeout] (ms)
#   DATA_DIR=./cluster-data [--data-dir] (in the repo root; a node's files in
#   DATA_DIR/<port>/: nodes.conf, node.log, stdout.log, pid, pid.start)  HOST=127.0.0.1 [--host]
#   stop, clean and status act on every node recorded in DATA_DIR, whatever PORT and NODES say.
#   START_TIMEOUT=20  CREATE_TIMEOUT=30  STOP_TIMEOUT=10 (seconds)
# Arguments after `--` are appended to every node's command line.
#
# Examples: scripts/cluster.sh          SERVER=redis-server PORT=17000 scripts/cluster.sh
#           scripts/cluster.sh status   scripts/cluster.sh clean
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "== $*"; }

CMD=all
case ${1:-} in
    start | create | stop | clean | status) CMD=$1; shift ;;
    -h | --help | help) usage ;;
    "" | -*) ;;
    *) echo "cluster.sh: unknown command '$1'" >&2; usage ;;
esac
EXTRA_ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        --server) SERVER=${2:?}; shift 2 ;;
        --nodes) NODES=${2:?}; shift 2 ;;
        --replicas) REPLICAS=${2:?}; shift 2 ;;
        --port) PORT=${2:?}; shift 2 ;;
        --node-timeout) NODE_TIMEOUT=${2:?}; shift 2 ;;
        --data-dir) DATA_DIR=${2:?}; shift 2 ;;
        --host) HOST=${2:?}; shift 2 ;;
        --) shift; EXTRA_ARGS=("$@"); break ;;
        -h | --help) usage ;;
        *) echo "cluster.sh: unknown option '$1'" >&2; usage ;;
    esac
done

NODES=${NODES:-6}
REPLICAS=${REPLICAS:-1}
PORT=${PORT:-7000}
NODE_TIMEOUT=${NODE_TIMEOUT:-5000}
HOST=${HOST:-127.0.0.1}
START_TIMEOUT=${START_TIMEOUT:-20}
CREATE_TIMEOUT=${CREATE_TIMEOUT:-30}
STOP_TIMEOUT=${STOP_TIMEOUT:-10}
for var in NODES REPLICAS PORT NODE_TIMEOUT START_TIMEOUT CREATE_TIMEOUT STOP_TIMEOUT; do
    [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a number, not '${!var}'"
done
[ "$NODES" -ge 1 ] || die "NODES must be at least 1"
# The cluster bus listens on port + 10000, which must be a valid port too.
if [ "$PORT" -lt 1 ] || [ $((PORT + NODES - 1 + 10000)) -gt 65535 ]; then
    die "ports $PORT..$((PORT + NODES - 1)) need bus ports (+10000) below 65536"
fi
MASTERS=$((NODES / (REPLICAS + 1)))

# Relative paths the user gives are taken from where they ran the script; the defaults from
# the repo root, so that every command finds the same cluster wherever it is run from.
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
DATA_DIR=$(abspath "${DATA_DIR:-$ROOT/cluster-data}")
DATA_DIR=${DATA_DIR%/}
if [ -z "$DATA_DIR" ] || [ "$DATA_DIR" = "$HOME" ] || [ "$DATA_DIR" = "$ROOT" ]; then
    die "refusing to use '${DATA_DIR:-/}' as DATA_DIR"
fi
# Written into DATA_DIR by start: clean deletes only a directory that has it.
MARKER=.cluster.sh

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

need_redis_cli() {
    command -v redis-cli >/dev/null && return
    command -v apt-get >/dev/null || die "redis-cli is missing and apt-get is not available: install redis-tools"
    say "installing redis-tools (redis-cli creates the cluster)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-tools >/dev/null
    command -v redis-cli >/dev/null || die "redis-cli still missing after installing redis-tools"
}

resolve_server() {
    if [ -z "${SERVER:-}" ]; then
        SERVER=$ROOT/target/release/tessera-server
        if [ ! -x "$SERVER" ]; then
            say "building tessera-server (cargo build --release --bin tessera-server)"
            (cd "$ROOT" && cargo build --release --bin tessera-server) || die "cargo build failed"
        fi
    elif [[ $SERVER == */* ]]; then
        SERVER=$(abspath "$SERVER")
    else
        SERVER=$(command -v "$SERVER") || die "SERVER '$SERVER' is not on PATH"
    fi
    [ -x "$SERVER" ] || die "SERVER '$SERVER' is not an executable file"
}

# redis-cli 7.0 has no read timeout: a stuck node would hang the script.
cli() { local port=$1; shift; timeout 5 redis-cli -h "$HOST" -p "$port" "$@" 2>/dev/null | tr -d '\r'; }
answers_ping() { [ "$(cli "$1" ping)" = PONG ]; }
# Something (ours or not) accepts connections on the port.
port_taken() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
# Alive and still the process that start recorded (zombies count as gone).
is_ours() {
    local pid=$1 dir=$2 state
    kill -0 "$pid" 2>/dev/null || return 1
    [ -d /proc ] || return 0
    state=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    state=${state##*) }
    [ "${state%% *}" != Z ] || return 1
    [ ! -f "$dir/pid.start" ] || [ "$(start_time "$pid")" = "$(cat "$dir/pid.start")" ]
}
recorded_pid() { local p; p=$(cat "$1/pid" 2>/dev/null) && [[ $p =~ ^[0-9]+$ ]] && echo "$p"; }

ports() { seq "$PORT" $((PORT + NODES - 1)); }
# Node directories that start made (named by port), in port order.
node_dirs() {
    [ -f "$DATA_DIR/$MARKER" ] || return 0
    find "$DATA_DIR" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9]+' | sort -V
}

cmd_start() {
    need_redis_cli
    resolve_server
    # Only a new or empty directory becomes a DATA_DIR: clean deletes it whole.
    if [ -d "$DATA_DIR" ] && [ ! -f "$DATA_DIR/$MARKER" ] && [ -n "$(ls -A "$DATA_DIR")" ]; then
        die "$DATA_DIR exists and was not made by this script: choose another DATA_DIR"
    fi
    mkdir -p "$DATA_DIR"
    touch "$DATA_DIR/$MARKER"
    say "starting $NODES nodes of $SERVER on $HOST:$PORT..$((PORT + NODES - 1)) (data in $DATA_DIR)"
    local port dir pid todo=() started=()
    # All ports are checked before any node starts, so a clash leaves nothing behind.
    for port in $(ports); do
        dir=$DATA_DIR/$port
        if pid=$(recorded_pid "$dir") && is_ours "$pid" "$dir"; then
            echo "  $port: already running (pid $pid)"
            continue
        fi
        port_taken "$port" && die "port $port is in use by a process this script did not start"
        port_taken $((port + 10000)) && die "bus port $((port + 10000)) (port $port + 10000) is in use"
        todo+=("$port")
    done
    for port in "${todo[@]}"; do
        dir=$DATA_DIR/$port
        mkdir -p "$dir"
        rm -f "$dir/pid" "$dir/pid.start"
        # nohup: the nodes outlive this script and the terminal it ran in.
        nohup "$SERVER" --port "$port" --bind "$HOST" --dir "$dir" \
            --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-node-timeout "$NODE_TIMEOUT" --appendonly no --save "" \
            --daemonize no --logfile "$dir/node.log" "${EXTRA_ARGS[@]}" \
            </dev/null >>"$dir/stdout.log" 2>&1 &
        pid=$!
        echo "$pid" >"$dir/pid"
        start_time "$pid" >"$dir/pid.start" 2>/dev/null || rm -f "$dir/pid.start"
        started+=("$port")
        echo "  $port: pid $pid"
    done
    local deadline=$((SECONDS + START_TIMEOUT))
    for port in "${started[@]}"; do
        dir=$DATA_DIR/$port
        until answers_ping "$port"; do
            if ! is_ours "$(recorded_pid "$dir")" "$dir"; then
                echo "cluster.sh: node $port exited; the end of its logs:" >&2
                tail -n 20 "$dir/stdout.log" "$dir/node.log" >&2 2>/dev/null || true
                abort_start "${started[@]}"
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                echo "cluster.sh: node $port did not answer PING within ${START_TIMEOUT}s (see $dir/node.log)" >&2
                abort_start "${started[@]}"
            fi
            sleep 0.1
        done
    done
    say "all $NODES nodes answer PING"
}

# A half-started cluster is worse than none: stop what this run started, then fail.
abort_start() {
    local port dirs=()
    for port in "$@"; do dirs+=("$DATA_DIR/$port"); done
    stop_dirs "${dirs[@]}"
    exit 1
}

cmd_create() {
    need_redis_cli
    [ "$MASTERS" -ge 3 ] || die "a cluster needs at least 3 masters: $NODES nodes with $REPLICAS replicas each give $MASTERS (use at least $((3 * (REPLICAS + 1))) nodes)"
    local port info known joined=0 addrs=()
    for port in $(ports); do
        answers_ping "$port" || die "node $HOST:$port does not answer PING (run: scripts/cluster.sh start)"
        info=$(cli "$port" cluster info)
        known=$(info_field "$info" cluster_known_nodes)
        [ -n "$known" ] || die "node $port gives no cluster_known_nodes in CLUSTER INFO: is it cluster-enabled?"
        [ "$known" -gt 1 ] && joined=$((joined + 1))
        addrs+=("$HOST:$port")
    done
    if [ "$joined" -eq "$NODES" ]; then
        say "the nodes already form a cluster (nodes.conf from an earlier create): not creating it again"
    elif [ "$joined" -gt 0 ]; then
        die "$joined of $NODES nodes already know other nodes: run scripts/cluster.sh clean, then start again"
    else
        say "redis-cli --cluster create ${addrs[*]} --cluster-replicas $REPLICAS"
        # redis-cli waits for the nodes to agree on the slots with no time limit of its own,
        # and exits 0 even when its final check reports errors: bound it, then check here.
        # Its colours (chosen by TERM alone) only garble logs.
        local term=dumb
        [ -t 1 ] && term=${TERM:-dumb}
        TERM=$term timeout $((CREATE_TIMEOUT + 60)) redis-cli --cluster create "${addrs[@]}" \
            --cluster-replicas "$REPLICAS" --cluster-yes \
            || die "redis-cli --cluster create failed (exit $?; 124: it ran out of time)"
    fi
    wait_cluster_ok
}

# Why a node does not yet see the whole cluster ready, or nothing when it does.
node_not_ready() {
    local port=$1 info nodes state assigned known size replicas
    info=$(cli "$port" cluster info) || true
    state=$(info_field "$info" cluster_state)
    assigned=$(info_field "$info" cluster_slots_assigned)
    known=$(info_field "$info" cluster_known_nodes)
    size=$(info_field "$info" cluster_size)
    if [ "$state" != ok ]; then echo "cluster_state:${state:-?}"; return; fi
    if [ "$assigned" != 16384 ]; then echo "cluster_slots_assigned:$assigned"; return; fi
    if [ "$known" != "$NODES" ]; then echo "cluster_known_nodes:$known, expected $NODES"; return; fi
    if [ "$size" != "$MASTERS" ]; then echo "cluster_size:$size, expected $MASTERS"; return; fi
    # Replicas are attached after the join; redis-cli ignores a failed CLUSTER REPLICATE.
    nodes=$(cli "$port" cluster nodes) || true
    replicas=$(awk '$3 ~ /(^|,)slave(,|$)/ {n++} END {print n + 0}' <<<"$nodes")
    if [ "$replicas" != $((NODES - MASTERS)) ]; then
        echo "$replicas replicas in CLUSTER NODES, expected $((NODES - MASTERS))"
    fi
}

wait_cluster_ok() {
    say "waiting (up to ${CREATE_TIMEOUT}s) for every node to report cluster_state:ok"
    local deadline=$((SECONDS + CREATE_TIMEOUT)) port why
    for port in $(ports); do
        while why=$(node_not_ready "$port") && [ -n "$why" ]; do
            [ "$SECONDS" -lt "$deadline" ] \
                || die "node $port not ready after ${CREATE_TIMEOUT}s: $why (see $DATA_DIR/$port/node.log)"
            sleep 0.2
        done
    done
    say "cluster ready: $MASTERS masters, $((NODES - MASTERS)) replicas, 16384 slots, on $HOST:$PORT..$((PORT + NODES - 1))"
    echo "   try: redis-cli -c -p $PORT set foo bar"
}

# SIGTERM to every recorded, still-ours PID in the given node dirs, SIGKILL after
# STOP_TIMEOUT seconds, and the PID files removed.
stop_dirs() {
    local dir pid st live=() left
    for dir in "$@"; do
        pid=$(recorded_pid "$dir") || continue
        if is_ours "$pid" "$dir"; then
            kill -TERM "$pid" 2>/dev/null || true
            live+=("$dir")
            echo "  ${dir##*/}: SIGTERM to pid $pid"
        elif [ -f "$dir/pid.start" ] && st=$(start_time "$pid") && [ "$st" != "$(cat "$dir/pid.start")" ]; then
            echo "  ${dir##*/}: pid $pid is now another process (start time differs): left alone"
            rm -f "$dir/pid" "$dir/pid.start"
        else
            echo "  ${dir##*/}: pid $pid not running"
            rm -f "$dir/pid" "$dir/pid.start"
        fi
    done
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while :; do
        left=()
        for dir in "${live[@]}"; do
            pid=$(recorded_pid "$dir") || continue
            if is_ours "$pid" "$dir"; then left+=("$dir"); else rm -f "$dir/pid" "$dir/pid.start"; fi
        done
        live=("${left[@]}")
        if [ ${#live[@]} -eq 0 ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
        sleep 0.1
    done
    for dir in "${live[@]}"; do
        if ! pid=$(recorded_pid "$dir") || ! is_ours "$pid" "$dir"; then continue; fi
        echo "  ${dir##*/}: pid $pid still running after ${STOP_TIMEOUT}s: SIGKILL"
        # wait reaps it (and keeps bash's "Killed" notice quiet) when this run started it.
        { kill -KILL "$pid"; wait "$pid"; } 2>/dev/null || true
        rm -f "$dir/pid" "$dir/pid.start"
    done
    { wait; } 2>/dev/null || true
}

cmd_stop() {
    local dirs=()
    mapfile -t dirs < <(node_dirs)
    if [ ${#dirs[@]} -eq 0 ]; then
        say "no nodes recorded in $DATA_DIR"
        return
    fi
    say "stopping the nodes recorded in $DATA_DIR"
    stop_dirs "${dirs[@]}"
}

cmd_clean() {
    cmd_stop
    [ -e "$DATA_DIR" ] || return 0
    [ -f "$DATA_DIR/$MARKER" ] || die "$DATA_DIR was not made by this script (no $MARKER in it): not deleting it"
    rm -rf "$DATA_DIR"
    say "deleted $DATA_DIR"
}

cmd_status() {
    local dirs=() dir port pid proc role slots state ok=1 nodes info myself
    mapfile -t dirs < <(node_dirs)
    if [ ${#dirs[@]} -eq 0 ]; then
        say "no nodes recorded in $DATA_DIR"
        return 1
    fi
    need_redis_cli
    printf '%-6s %-8s %-8s %-18s %6s  %s\n' PORT PID PROCESS ROLE SLOTS CLUSTER
    for dir in "${dirs[@]}"; do
        port=${dir##*/}
        pid=$(recorded_pid "$dir") || pid=-
        role=- slots=- state=-
        if [ "$pid" != - ] && is_ours "$pid" "$dir"; then proc=running; else proc=stopped; ok=0; fi
        if [ $proc = running ] && answers_ping "$port"; then
            info=$(cli "$port" cluster info)
            state=$(info_field "$info" cluster_state)
            nodes=$(cli "$port" cluster nodes)
            myself=$(awk '$3 ~ /myself/' <<<"$nodes")
            # Slot fields are ranges "a-b", single slots, or "[..]" migrations (not counted).
            slots=$(awk '{n = 0; for (i = 9; i <= NF; i++) if ($i !~ /^\[/) {split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1)} print n}' <<<"$myself")
            case $(awk '{print $3}' <<<"$myself") in
                *slave*) role="replica of $(awk -v m="$(awk '{print $4}' <<<"$myself")" \
                    '$1 == m {split($2, a, "@"); n = split(a[1], b, ":"); print b[n]}' <<<"$nodes")" ;;
                *master*) role=master ;;
                *) role="?" ;;
            esac
        elif [ $proc = running ]; then
            state="no PING reply"
        fi
        [ "$state" = ok ] || ok=0
        printf '%-6s %-8s %-8s %-18s %6s  %s\n' "$port" "$pid" "$proc" "$role" "$slots" "$state"
    done
    [ $ok = 1 ]
}

case $CMD in
    all) cmd_start; cmd_create ;;
    start) cmd_start ;;
    create) cmd_create ;;
    stop) cmd_stop ;;
    clean) cmd_clean ;;
    status) cmd_status ;;
esac
