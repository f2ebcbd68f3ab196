#!/usr/bin/env bash
# Memory per key: loads KEYS (default 1,000,000) keys of 16 bytes with 16-byte values into
# tessera-server and redis-server 7.0 (no persistence) and prints, for both, the growth of
# INFO used_memory and of the process RSS divided by the number of keys.
#
# Usage: scripts/memory.sh        KEYS=200000 scripts/memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

KEYS=${KEYS:-1000000}
require_tools redis-server redis-cli
cargo build --release --quiet

used_memory() { info_field "$(redis-cli -p "$1" info memory | tr -d '\r')" used_memory; }
rss_bytes() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status"; }

measure() {
    local name=$1 port=$2 pid=$3
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    local used0 rss0 used1 rss1 n
    used0=$(used_memory "$port")
    rss0=$(rss_bytes "$pid")
    # key:%012d and val:%012d are both 16 bytes.
    awk -v n="$KEYS" 'BEGIN { for (i = 0; i < n; i++) printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$16\r\nval:%012d\r\n", i, i }' \
        | redis-cli -p "$port" --pipe >/dev/null
    n=$(redis-cli -p "$port" dbsize)
    [ "$n" = "$KEYS" ] || { echo "$name: expected $KEYS keys, got $n"; exit 1; }
    sleep 1
    used1=$(used_memory "$port")
    rss1=$(rss_bytes "$pid")
    awk -v name="$name" -v k="$KEYS" -v u0="$used0" -v u1="$used1" -v r0="$rss0" -v r1="$rss1" \
        'BEGIN { printf "%-8s keys=%d  used_memory: %.1f B/key  RSS: %.1f B/key\n", name, k, (u1-u0)/k, (r1-r0)/k }'
}

TPORT=$(free_port)
target/release/tessera-server --port "$TPORT" --bind 127.0.0.1 --save "" --logfile /dev/null &
TPID=$!
RPORT=$(free_port)
while [ "$RPORT" = "$TPORT" ]; do RPORT=$(free_port); done
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --logfile /dev/null &
RPID=$!
trap 'kill $TPID $RPID 2>/dev/null; wait $TPID $RPID 2>/dev/null || true' EXIT

echo "$KEYS keys of 16 bytes with 16-byte values"
measure tessera "$TPORT" "$TPID"
measure redis "$RPORT" "$RPID"
