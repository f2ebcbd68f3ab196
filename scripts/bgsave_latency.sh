#!/usr/bin/env bash
# No fork, no stall: latency and memory of a background save under load, Tessera and
# redis-server 7.0 side by side.
#
# Each server gets KEYS (default 2,000,000) keys of 16 bytes with 100-byte values. Then,
# per server: an idle run of `redis-benchmark -t set,get -r KEYS -c 50` (REQUESTS each), and
# the same run started together with BGSAVE, while the server's RSS is sampled every 20 ms.
# Printed per server: p99.9 latency idle and during the save (from redis-benchmark's
# percentile distribution, SET and GET runs merged by taking the larger), their ratio, the
# resting RSS after loading and the peak RSS during the save, and their ratio. For Redis,
# the forked child's RSS is added to the parent's (that is the memory the fork costs).
#
# Usage: scripts/bgsave_latency.sh        KEYS=500000 REQUESTS=200000 scripts/bgsave_latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

KEYS=${KEYS:-2000000}
REQUESTS=${REQUESTS:-400000}
CORES=$(nproc)
THREADS=${THREADS:-$(( CORES > 1 ? CORES - 1 : 1 ))}
OUT=$(pwd)/target/bench/bgsave-$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/tessera" "$OUT/redis"

require_tools redis-server redis-benchmark redis-cli
cargo build --release --quiet

rss_kb() {
    local kb
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    echo "${kb:-0}"
}

# RSS of a process and its children (Redis's BGSAVE child), in kB.
tree_rss_kb() {
    local total pid
    total=$(rss_kb "$1")
    for pid in $(pgrep -P "$1" || true); do
        total=$(( total + $(rss_kb "$pid") ))
    done
    echo "$total"
}

# The highest latency (ms) at or above the 99.9th percentile in a redis-benchmark report.
p999() {
    awk '/Latency by percentile distribution/ {on = 1; next}
         on && $1 ~ /%$/ { p = $1; sub(/%/, "", p); if (p + 0 >= 99.9) { print $3; exit } }' "$1"
}

max_of() { awk 'BEGIN {m = 0} {if ($1 + 0 > m) m = $1 + 0} END {print m}'; }

load() {
    local port=$1
    awk -v n="$KEYS" 'BEGIN { v = sprintf("%0100d", 0); for (i = 0; i < n; i++) printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$100\r\n%s\r\n", i, v }' \
        | redis-cli -p "$port" --pipe >/dev/null
    local n
    n=$(redis-cli -p "$port" dbsize)
    [ "$n" = "$KEYS" ] || { echo "expected $KEYS keys, got $n"; exit 1; }
}

# bench PORT NAME: both tests, one report file each; prints the larger p99.9.
bench() {
    local port=$1 name=$2 t
    for t in set get; do
        redis-benchmark -p "$port" -t "$t" -n "$REQUESTS" -r "$KEYS" -c 50 > "$name-$t.txt" 2>/dev/null
    done
    { p999 "$name-set.txt"; p999 "$name-get.txt"; } | max_of
}

measure() {
    local side=$1 port=$2 pid=$3
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    load "$port"
    sleep 2
    local rest idle busy peak sampler
    rest=$(tree_rss_kb "$pid")
    idle=$(bench "$port" "$OUT/$side/idle")
    # Sample RSS while the save and the benchmark run.
    ( peak=0; while :; do r=$(tree_rss_kb "$pid"); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" > "$OUT/$side/peak"; sleep 0.02; done ) &
    sampler=$!
    redis-cli -p "$port" bgsave >/dev/null
    busy=$(bench "$port" "$OUT/$side/busy")
    for _ in $(seq 600); do
        redis-cli -p "$port" info persistence | grep -q '^rdb_bgsave_in_progress:0' && break
        sleep 0.1
    done
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    peak=$(cat "$OUT/$side/peak" 2>/dev/null || echo "$rest")
    local status
    status=$(redis-cli -p "$port" info persistence | tr -d '\r' | awk -F: '$1=="rdb_last_bgsave_status" {print $2}')
    awk -v s="$side" -v i="$idle" -v b="$busy" -v r="$rest" -v p="$peak" -v st="$status" 'BEGIN {
        printf "%-8s p99.9 idle %7.3f ms  during BGSAVE %7.3f ms  ratio %5.2fx   RSS resting %6.0f MB  peak %6.0f MB  ratio %4.2fx  (save %s)\n",
            s, i, b, (i > 0 ? b / i : 0), r / 1024, p / 1024, (r > 0 ? p / r : 0), st }'
}

TPORT=$(free_port)
RPORT=$(free_port)
while [ "$RPORT" = "$TPORT" ]; do RPORT=$(free_port); done
target/release/tessera-server --port "$TPORT" --bind 127.0.0.1 --save "" --server-threads "$THREADS" \
    --dir "$OUT/tessera" --logfile "$OUT/tessera.log" &
TPID=$!
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT/redis" \
    --logfile "$OUT/redis.log" &
RPID=$!
trap 'kill $TPID $RPID 2>/dev/null; wait $TPID $RPID 2>/dev/null || true' EXIT

echo "machine: $(nproc) cores; tessera threads: $THREADS; $KEYS keys (16-byte keys, 100-byte values)"
echo "redis-benchmark -t set / get -n $REQUESTS -r $KEYS -c 50, idle and while BGSAVE runs; raw output in $OUT"
measure tessera "$TPORT" "$TPID"
measure redis "$RPORT" "$RPID"
