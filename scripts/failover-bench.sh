#!/usr/bin/env bash
# Failover time (issue 7): how long a cluster goes without one of its masters after that
# master dies, Tessera and redis-server 7.0 side by side.
#
# Timed: from `kill -9` of a master to the first poll (every 50 ms) in which the dead
# master's replica reports role:master (INFO replication) and every surviving node reports
# cluster_state:ok (CLUSTER INFO). That is how long a third of the slots cannot be written.
# Tessera follows Redis 7.0's rules (PFAIL after cluster-node-timeout, FAIL once a majority
# of masters report it, election after 500 ms + 0-500 ms random + 1 s per replica rank), so
# its time should match Redis's; a longer one means slower detection, gossip or election.
# cluster_state stays ok until the nodes mark the master FAIL, so the replica's role is what
# shows the failover happened; the ok on every survivor then shows all of them took the new
# master's slots. Resolution: the 50 ms poll plus one poll's redis-cli calls (same for both).
#
# Each run builds a fresh cluster with scripts/cluster.sh: 6 nodes, 3 masters with 1 replica
# each, cluster-node-timeout NODE_TIMEOUT, no persistence. It writes KEYS keys through
# `redis-cli -c`, waits until the chosen master's replica has its link up and WAIT 1 confirms
# the writes, kills the master by the PID cluster.sh recorded (run i takes the i-th master in
# port order, cycling, so both servers lose the same masters), polls, reads the keys back
# (reported, not timed), keeps the node logs and deletes the cluster. Runs alternate Tessera,
# Redis, Tessera ... so machine noise hits both; RUNS of each. Printed: each run, then a
# markdown table of the runs, the medians and the ratio Tessera / Redis. A run that does not
# recover within RECOVER_TIMEOUT seconds is reported as such (the script then exits 1).
#
# The Tessera binary is the existing target/release/tessera-server (cluster.sh builds it only
# when it is missing): build first when measuring new code. Clusters live in a temporary
# directory, deleted on exit with every node stopped; node logs of each run are kept in
# target/bench/failover-<time>/<server>-<run>/.
#
# Usage: scripts/failover-bench.sh        RUNS=3 scripts/failover-bench.sh
# Settings: RUNS=5  NODE_TIMEOUT=2000 (ms)  RECOVER_TIMEOUT=60 (s)  KEYS=30
#           TESSERA_PORT=7400  REDIS_PORT=7500 (first of 6 ports each; bus ports +10000)
#           TESSERA=target/release/tessera-server
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

RUNS=${RUNS:-5}
NODE_TIMEOUT=${NODE_TIMEOUT:-2000}
RECOVER_TIMEOUT=${RECOVER_TIMEOUT:-60}
KEYS=${KEYS:-30}
TESSERA_PORT=${TESSERA_PORT:-7400}
REDIS_PORT=${REDIS_PORT:-7500}
TESSERA=${TESSERA:-}
NODES=6
HOST=127.0.0.1
POLL=0.05

die() { echo "failover-bench.sh: $*" >&2; exit 1; }
for var in RUNS NODE_TIMEOUT RECOVER_TIMEOUT KEYS TESSERA_PORT REDIS_PORT; do
    [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a number, not '${!var}'"
done
[ "$RUNS" -ge 1 ] || die "RUNS must be at least 1"
if [ $((TESSERA_PORT + NODES)) -gt "$REDIS_PORT" ] && [ $((REDIS_PORT + NODES)) -gt "$TESSERA_PORT" ]; then
    die "TESSERA_PORT ($TESSERA_PORT) and REDIS_PORT ($REDIS_PORT) ranges of $NODES ports overlap"
fi
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash 5 (EPOCHREALTIME)"
require_tools redis-server redis-cli timeout

OUT=$ROOT/target/bench/failover-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/failover-bench.XXXXXX")

cli() { local port=$1; shift; timeout 2 redis-cli -h "$HOST" -p "$port" "$@" 2>/dev/null | tr -d '\r'; }

# scripts/cluster.sh for one kind of server: its own ports and DATA_DIR under $WORK.
cluster() {
    local kind=$1; shift
    local server=$TESSERA port=$TESSERA_PORT
    if [ "$kind" = redis ]; then server=redis-server port=$REDIS_PORT; fi
    env SERVER="$server" PORT="$port" NODES=$NODES REPLICAS=1 NODE_TIMEOUT="$NODE_TIMEOUT" \
        HOST=$HOST DATA_DIR="$WORK/$kind" scripts/cluster.sh "$@"
}

# The run in progress: its cluster is deleted, after its logs are kept, by end_run or on exit.
RUN_KIND='' RUN_OUT=''
end_run() {
    [ -n "$RUN_KIND" ] || return 0
    local dir
    for dir in "$WORK/$RUN_KIND"/[0-9]*; do
        [ -d "$dir" ] || continue
        cp "$dir/node.log" "$RUN_OUT/${dir##*/}.log" 2>/dev/null || true
        cp "$dir/stdout.log" "$RUN_OUT/${dir##*/}.stdout.log" 2>/dev/null || true
        cp "$dir/nodes.conf" "$RUN_OUT/${dir##*/}.nodes.conf" 2>/dev/null || true
    done
    cluster "$RUN_KIND" clean >>"$RUN_OUT/cluster.log" 2>&1 || echo "cleaning the $RUN_KIND cluster failed: see $RUN_OUT/cluster.log" >&2
    RUN_KIND=
}
cleanup() {
    end_run
    local kind
    for kind in tessera redis; do
        if [ -d "$WORK/$kind" ]; then cluster "$kind" clean >/dev/null 2>&1 || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Nothing once the failover is complete; else the first reason it is not yet.
not_recovered() {
    local replica=$1 port role state; shift
    role=$(info_field "$(cli "$replica" info replication)" role)
    if [ "$role" != master ]; then echo "replica $replica role:${role:-no reply}"; return; fi
    for port in "$@"; do
        state=$(info_field "$(cli "$port" cluster info)" cluster_state)
        if [ "$state" != ok ]; then echo "node $port cluster_state:${state:-no reply}"; return; fi
    done
}

keys_readable() {
    local port=$1 i n=0
    for ((i = 1; i <= KEYS; i++)); do
        [ "$(timeout 5 redis-cli -c -h "$HOST" -p "$port" get "failover:$i" 2>/dev/null | tr -d '\r')" = "v$i" ] && n=$((n + 1))
    done
    echo "$n"
}

# One run: sets RESULT to the failover time in ms, or "timeout".
RESULT=
run_once() {
    local kind=$1 run=$2 first=$TESSERA_PORT
    if [ "$kind" = redis ]; then first=$REDIS_PORT; fi
    RUN_OUT=$OUT/$kind-$run
    mkdir -p "$RUN_OUT"
    RUN_KIND=$kind
    if ! cluster "$kind" >"$RUN_OUT/cluster.log" 2>&1; then
        tail -n 20 "$RUN_OUT/cluster.log"
        die "$kind run $run: the cluster did not form (logs in $RUN_OUT)"
    fi
    local i
    for ((i = 1; i <= KEYS; i++)); do
        [ "$(timeout 5 redis-cli -c -h "$HOST" -p "$first" set "failover:$i" "v$i" 2>/dev/null | tr -d '\r')" = OK ] \
            || die "$kind run $run: SET failover:$i failed"
    done

    local pairs=() master replica
    mapfile -t pairs < <(cli "$first" cluster nodes | master_replica_pairs)
    [ ${#pairs[@]} -gt 0 ] || die "$kind run $run: no master with a replica in CLUSTER NODES of $first"
    read -r master replica <<<"${pairs[$(((run - 1) % ${#pairs[@]}))]}"

    # A replica that never synced cannot be elected (its data age is unbounded).
    local deadline=$((SECONDS + 20)) acked
    until [ "$(info_field "$(cli "$replica" info replication)" master_link_status)" = up ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "$kind run $run: replica $replica link to $master not up after 20s"
        sleep 0.1
    done
    acked=$(cli "$master" wait 1 2000)
    [ "$acked" = 1 ] || echo "  warning: WAIT 1 2000 on master $master answered '$acked'"

    local dir=$WORK/$kind/$master pid
    pid=$(cat "$dir/pid") || die "$kind run $run: no pid file for $master"
    [ "$(start_time "$pid")" = "$(cat "$dir/pid.start")" ] || die "$kind run $run: pid $pid of $master is not the node cluster.sh started"
    local survivors=() port
    for port in $(seq "$first" $((first + NODES - 1))); do
        [ "$port" = "$master" ] || survivors+=("$port")
    done

    local t0 now why last='' limit=$((RECOVER_TIMEOUT * 1000000)) ms
    t0=$(now_us)
    kill -KILL "$pid"
    echo "+0 ms kill -9 master $master (pid $pid), replica $replica" >"$RUN_OUT/trace.txt"
    while :; do
        why=$(not_recovered "$replica" "${survivors[@]}")
        now=$(now_us)
        ms=$(((now - t0) / 1000))
        if [ "$why" != "$last" ]; then
            echo "+$ms ms ${why:-recovered}" >>"$RUN_OUT/trace.txt"
            last=$why
        fi
        if [ -z "$why" ]; then RESULT=$ms; break; fi
        if [ $((now - t0)) -ge "$limit" ]; then RESULT=timeout; break; fi
        sleep "$POLL"
    done

    if [ "$RESULT" = timeout ]; then
        {
            echo "== no recovery after ${RECOVER_TIMEOUT}s: $why"
            for port in "${survivors[@]}"; do
                echo "-- $port: cluster_state:$(info_field "$(cli "$port" cluster info)" cluster_state)" \
                    "role:$(info_field "$(cli "$port" info replication)" role)"
            done
            echo "-- CLUSTER NODES of replica $replica:"
            cli "$replica" cluster nodes
        } >>"$RUN_OUT/trace.txt"
        echo "  $kind run $run: killed master $master, replica $replica: NO RECOVERY in ${RECOVER_TIMEOUT}s ($why); see $RUN_OUT"
    else
        echo "  $kind run $run: killed master $master (pid $pid), replica $replica took over in $RESULT ms;" \
            "keys readable $(keys_readable "${survivors[0]}")/$KEYS"
    fi
    end_run
}

median() { tr ' ' '\n' | { grep -E '^[0-9]+$' || true; } | sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

REDIS_VERSION=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
echo "== failover time: $RUNS runs each, Tessera (ports $TESSERA_PORT..) and redis-server $REDIS_VERSION" \
    "(ports $REDIS_PORT..), 6 nodes, cluster-node-timeout $NODE_TIMEOUT; $(date '+%Y-%m-%d %H:%M')," \
    "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); logs in $OUT"
T_MS=() R_MS=()
for ((run = 1; run <= RUNS; run++)); do
    run_once tessera "$run"
    T_MS+=("$RESULT")
    run_once redis "$run"
    R_MS+=("$RESULT")
done

t_med=$(median <<<"${T_MS[*]}")
r_med=$(median <<<"${R_MS[*]}")
ratio=-
if [ "$t_med" != - ] && [ "$r_med" != - ] && [ "$r_med" -gt 0 ]; then
    ratio=$(awk -v t="$t_med" -v r="$r_med" 'BEGIN {printf "%.2f×", t / r}')
fi
echo
echo "| | failover time per run (ms, in run order) | median |"
echo "|---|---|---:|"
[ "$t_med" = - ] || t_med="$t_med ms"
[ "$r_med" = - ] || r_med="$r_med ms"
echo "| Tessera | ${T_MS[*]} | **$t_med** |"
echo "| redis-server $REDIS_VERSION | ${R_MS[*]} | **$r_med** |"
echo "| ratio Tessera / Redis | | **$ratio** |"
if [[ " ${T_MS[*]} ${R_MS[*]} " == *" timeout "* ]]; then
    echo
    echo "Some runs did not recover within ${RECOVER_TIMEOUT}s (\"timeout\"; medians leave them out): see $OUT"
    exit 1
fi
