#!/usr/bin/env bash
# Resharding speed (issue 8): keys moved per second by `redis-cli --cluster reshard`,
# Tessera and redis-server 7.0 side by side.
#
# Each run builds a fresh 3-master cluster (no replicas, no persistence) with
# scripts/cluster.sh, fills it with KEYS keys (scripts/cluster_fill.py: key:<i>, 16-byte
# values, spread over all slots), counts the keys in the SLOTS slots the first master will
# give away, and times `redis-cli --cluster reshard --cluster-slots SLOTS` from the first
# master (by port) to the second: for each slot redis-cli marks it IMPORTING / MIGRATING,
# moves its keys with MIGRATE (PIPELINE keys per call) and assigns it with SETSLOT NODE on
# every master. Then `redis-cli --cluster check` must pass and DBSIZE over the masters must
# still be KEYS (no key lost or duplicated). Printed: seconds, keys moved, keys per second
# for each run, and the ratio Tessera / Redis of the medians. Runs alternate Tessera,
# Redis, ... RUNS of each.
#
# The Tessera binary is target/release/tessera-server (built only when missing): build
# first when measuring new code.
#
# Usage: scripts/reshard-bench.sh        KEYS=100000 RUNS=1 scripts/reshard-bench.sh
# Settings: KEYS=1000000  SLOTS=4000  PIPELINE=10  RUNS=1
#           TESSERA_PORT=7700  REDIS_PORT=7800 (first of 3 ports each; bus ports +10000)
#           TESSERA=target/release/tessera-server
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

KEYS=${KEYS:-1000000}
SLOTS=${SLOTS:-4000}
PIPELINE=${PIPELINE:-10}
RUNS=${RUNS:-1}
TESSERA_PORT=${TESSERA_PORT:-7700}
REDIS_PORT=${REDIS_PORT:-7800}
TESSERA=${TESSERA:-}
HOST=127.0.0.1

die() { echo "reshard-bench.sh: $*" >&2; exit 1; }
for var in KEYS SLOTS PIPELINE RUNS TESSERA_PORT REDIS_PORT; do
    [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a number, not '${!var}'"
done
[ "$SLOTS" -ge 1 ] && [ "$SLOTS" -le 5461 ] || die "SLOTS must be 1..5461 (the first master's share)"
[ -n "${EPOCHREALTIME:-}" ] || die "needs bash 5 (EPOCHREALTIME)"
require_tools redis-server redis-cli timeout python3
python3 -c "import redis" 2>/dev/null || die "redis-py is required (python3 -m pip install redis)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/reshard-bench.XXXXXX")
OUT=$ROOT/target/bench/reshard-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

cluster() {
    local kind=$1; shift
    local server=$TESSERA port=$TESSERA_PORT
    if [ "$kind" = redis ]; then server=redis-server port=$REDIS_PORT; fi
    env SERVER="$server" PORT="$port" NODES=3 REPLICAS=0 NODE_TIMEOUT=15000 \
        HOST=$HOST DATA_DIR="$WORK/$kind" scripts/cluster.sh "$@"
}
cleanup() {
    local kind
    for kind in tessera redis; do
        if [ -d "$WORK/$kind" ]; then cluster "$kind" clean >/dev/null 2>&1 || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cli() { local port=$1; shift; timeout 10 redis-cli -h "$HOST" -p "$port" "$@" 2>/dev/null | tr -d '\r'; }

RESULT=''
run_once() {
    local kind=$1 run=$2 first=$TESSERA_PORT
    if [ "$kind" = redis ]; then first=$REDIS_PORT; fi
    local log=$OUT/$kind-$run.log
    cluster "$kind" >"$log" 2>&1 || { tail -n 20 "$log"; die "$kind: the cluster did not form"; }
    python3 scripts/cluster_fill.py "$HOST" "$first" "$KEYS" >>"$log" 2>&1 || die "$kind: filling failed (see $log)"
    local src dst moving
    src=$(cli "$first" cluster myid)
    dst=$(cli $((first + 1)) cluster myid)
    # redis-cli takes the source's slots lowest first: these are the ones that move.
    moving=$(seq 0 $((SLOTS - 1)) | sed 's/^/CLUSTER COUNTKEYSINSLOT /' \
        | timeout 60 redis-cli -h "$HOST" -p "$first" 2>/dev/null | awk '{n += $1} END {print n + 0}')
    local t0 t1
    t0=$(now_us)
    timeout 3600 redis-cli --cluster reshard "$HOST:$first" --cluster-from "$src" --cluster-to "$dst" \
        --cluster-slots "$SLOTS" --cluster-pipeline "$PIPELINE" --cluster-yes >>"$log" 2>&1 \
        || die "$kind: reshard failed (see $log)"
    t1=$(now_us)
    timeout 60 redis-cli --cluster check "$HOST:$first" >"$OUT/$kind-$run.check" 2>&1 || true
    grep -q 'All 16384 slots covered' "$OUT/$kind-$run.check" && ! grep -q '\[ERR\]' "$OUT/$kind-$run.check" \
        || die "$kind: check failed after the reshard (see $OUT/$kind-$run.check)"
    local total=0 port
    for port in "$first" $((first + 1)) $((first + 2)); do
        total=$((total + $(cli "$port" dbsize)))
    done
    [ "$total" = "$KEYS" ] || die "$kind: $total keys after the reshard, not $KEYS"
    local us=$((t1 - t0))
    RESULT="$us $moving"
    printf '%-8s run %d: %d slots, %d keys moved in %d.%03d s: %d keys/s\n' "$kind" "$run" \
        "$SLOTS" "$moving" $((us / 1000000)) $(((us / 1000) % 1000)) $((moving * 1000000 / us))
    cluster "$kind" clean >>"$log" 2>&1
}

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

echo "== reshard of $SLOTS slots out of a cluster of $KEYS keys, MIGRATE pipeline $PIPELINE; logs in $OUT"
declare -a T_RATES R_RATES
for ((run = 1; run <= RUNS; run++)); do
    for kind in tessera redis; do
        run_once "$kind" "$run"
        read -r us moving <<<"$RESULT"
        if [ "$kind" = tessera ]; then T_RATES+=($((moving * 1000000 / us))); else R_RATES+=($((moving * 1000000 / us))); fi
    done
done
t=$(printf '%s\n' "${T_RATES[@]}" | median)
r=$(printf '%s\n' "${R_RATES[@]}" | median)
echo
echo "| | keys/s per run | median |"
echo "|---|---|---:|"
echo "| Tessera | ${T_RATES[*]} | **$t** |"
echo "| redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2) | ${R_RATES[*]} | **$r** |"
awk -v t="$t" -v r="$r" 'BEGIN {printf "| ratio Tessera / Redis | | **%.2fx** |\n", t / r}'
