#!/usr/bin/env bash
# Acknowledged writes across failovers (issue 7): a writer that sends WAIT 1 after every SET
# keeps writing while masters are killed one after another; at the end, every write a
# replica acknowledged must be readable with its value.
#
# A 6-node cluster (3 masters, 1 replica each, cluster-node-timeout NODE_TIMEOUT, no
# persistence) is made with scripts/cluster.sh. scripts/acked_writer.py writes w:<n> = <n>
# to each key's master, SET then WAIT 1 1000 on the same connection, and records the keys
# whose WAIT answered 1. Each round:
#   1. takes the next master with a replica (cycling in port order) and waits until the
#      replica's link is up;
#   2. kill -9 of the master, by the PID cluster.sh recorded;
#   3. waits (RECOVER_TIMEOUT) until the replica is master and every survivor reports
#      cluster_state:ok;
#   4. starts the killed node again on its port and directory (cluster.sh start), and waits
#      until it is a replica with its link up and all six report ok;
#   5. checks that the writer acknowledged more writes during the round.
# Then the writer stops, `redis-cli --cluster check` must pass, and every acknowledged key
# is read back. Exit 0 only when no round failed and no acknowledged write was lost.
#
# Usage: scripts/failover-writes.sh         ROUNDS=3 PORT=21400 scripts/failover-writes.sh
#        SERVER=redis-server scripts/failover-writes.sh   (the same run against Redis 7.0)
# Settings: ROUNDS=20  PORT=7600 (first of 6 ports; bus ports +10000)  NODE_TIMEOUT=2000 (ms)
#           RECOVER_TIMEOUT=60 (s)  SERVER=target/release/tessera-server (built if missing)
# Node logs, the acknowledged keys and a trace are kept in target/failover-writes-<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

ROUNDS=${ROUNDS:-20}
PORT=${PORT:-7600}
NODE_TIMEOUT=${NODE_TIMEOUT:-2000}
RECOVER_TIMEOUT=${RECOVER_TIMEOUT:-60}
SERVER=${SERVER:-}
NODES=6
HOST=127.0.0.1

die() { echo "failover-writes.sh: $*" >&2; exit 1; }
for var in ROUNDS PORT NODE_TIMEOUT RECOVER_TIMEOUT; do
    [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a number, not '${!var}'"
done
[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"
require_tools redis-cli timeout python3
python3 -c "import redis" 2>/dev/null || die "redis-py is required (python3 -m pip install redis)"

OUT=$ROOT/target/failover-writes-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/failover-writes.XXXXXX")
ACKED=$OUT/acked.txt
STOP=$WORK/stop
TRACE=$OUT/trace.txt
: >"$ACKED"

cluster() {
    env ${SERVER:+SERVER="$SERVER"} PORT="$PORT" NODES=$NODES REPLICAS=1 \
        NODE_TIMEOUT="$NODE_TIMEOUT" HOST=$HOST DATA_DIR="$WORK/cluster" scripts/cluster.sh "$@"
}
cli() { local port=$1; shift; timeout 2 redis-cli -h "$HOST" -p "$port" "$@" 2>/dev/null | tr -d '\r'; }
say() { echo "$*" | tee -a "$TRACE"; }

WRITER_PID=''
cleanup() {
    touch "$STOP" 2>/dev/null || true
    if [ -n "$WRITER_PID" ]; then
        kill "$WRITER_PID" 2>/dev/null || true
        wait "$WRITER_PID" 2>/dev/null || true
    fi
    local dir
    for dir in "$WORK/cluster"/[0-9]*; do
        [ -d "$dir" ] && cp "$dir/node.log" "$OUT/${dir##*/}.log" 2>/dev/null || true
    done
    if [ -d "$WORK/cluster" ]; then cluster clean >>"$OUT/cluster.log" 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORTS=$(seq -s, "$PORT" $((PORT + NODES - 1)))

# Waits until `check` (a function, with its arguments) prints nothing; dies with its last
# output after RECOVER_TIMEOUT seconds.
wait_for() {
    local what=$1 deadline=$((SECONDS + RECOVER_TIMEOUT)) why; shift
    while why=$("$@") && [ -n "$why" ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "$what: not after ${RECOVER_TIMEOUT}s: $why (logs in $OUT)"
        sleep 0.1
    done
}
role_is() {
    local port=$1 want=$2 role
    role=$(info_field "$(cli "$port" info replication)" role)
    [ "$role" = "$want" ] || echo "$port role:${role:-no reply}"
}
link_up() {
    local port=$1 link
    link=$(info_field "$(cli "$port" info replication)" master_link_status)
    [ "$link" = up ] || echo "$port master_link_status:${link:-no reply}"
}
all_ok() {
    local port state
    for port in "$@"; do
        state=$(info_field "$(cli "$port" cluster info)" cluster_state)
        if [ "$state" != ok ]; then echo "$port cluster_state:${state:-no reply}"; return; fi
    done
}
acked_count() { wc -l <"$ACKED"; }

say "== cluster of $NODES ${SERVER:-tessera-server} nodes on $HOST:$PORT.. (node timeout $NODE_TIMEOUT ms)"
cluster >"$OUT/cluster.log" 2>&1 || { tail -n 20 "$OUT/cluster.log"; die "the cluster did not form"; }

python3 scripts/acked_writer.py write "$HOST" "$PORTS" "$ACKED" "$STOP" >"$OUT/writer.log" 2>&1 &
WRITER_PID=$!
deadline=$((SECONDS + 20))
until [ "$(acked_count)" -gt 100 ]; do
    kill -0 "$WRITER_PID" 2>/dev/null || { cat "$OUT/writer.log"; die "the writer exited"; }
    [ "$SECONDS" -lt "$deadline" ] || die "the writer acknowledged no 100 writes in 20s"
    sleep 0.1
done

ALL=($(seq "$PORT" $((PORT + NODES - 1))))
for ((round = 1; round <= ROUNDS; round++)); do
    mapfile -t pairs < <(cli "${ALL[0]}" cluster nodes | master_replica_pairs)
    [ ${#pairs[@]} -gt 0 ] || die "round $round: no master with a replica"
    read -r master replica <<<"${pairs[$(((round - 1) % ${#pairs[@]}))]}"
    wait_for "round $round: replica $replica synced" link_up "$replica"
    before=$(acked_count)
    t0=$SECONDS
    dir=$WORK/cluster/$master
    pid=$(cat "$dir/pid") || die "no pid file for $master"
    [ "$(start_time "$pid")" = "$(cat "$dir/pid.start")" ] || die "pid $pid of $master is not the node cluster.sh started"
    kill -KILL "$pid"
    survivors=()
    for port in "${ALL[@]}"; do [ "$port" = "$master" ] || survivors+=("$port"); done
    wait_for "round $round: replica $replica promoted" role_is "$replica" master
    wait_for "round $round: survivors ok" all_ok "${survivors[@]}"
    failover=$((SECONDS - t0))
    cluster start >>"$OUT/cluster.log" 2>&1 || die "round $round: restarting $master failed"
    wait_for "round $round: $master back as a replica" role_is "$master" slave
    wait_for "round $round: $master synced" link_up "$master"
    wait_for "round $round: all ok" all_ok "${ALL[@]}"
    sleep 0.5
    after=$(acked_count)
    [ "$after" -gt "$before" ] || die "round $round: the writer acknowledged nothing (see $OUT/writer.log)"
    say "round $round: killed master $master, replica $replica took over in ~${failover}s;" \
        "$master rejoined as its replica; $((after - before)) writes acknowledged this round"
done

touch "$STOP"
wait "$WRITER_PID" || die "the writer failed (see $OUT/writer.log)"
WRITER_PID=''
cat "$OUT/writer.log" | tee -a "$TRACE"
timeout 30 redis-cli --cluster check "$HOST:$PORT" >"$OUT/check.txt" 2>&1 || true
if grep -q '\[ERR\]' "$OUT/check.txt" || ! grep -q 'All 16384 slots covered' "$OUT/check.txt"; then
    cat "$OUT/check.txt"
    die "redis-cli --cluster check failed after $ROUNDS rounds"
fi
say "redis-cli --cluster check: ok"
if python3 scripts/acked_writer.py verify "$HOST" "$PORTS" "$ACKED" | tee -a "$TRACE" | grep -q ', 0 lost$'; then
    say "PASS: $ROUNDS kill-a-master failovers, $(acked_count) acknowledged writes, none lost"
else
    die "acknowledged writes were lost (see $TRACE)"
fi
