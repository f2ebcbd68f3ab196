#!/usr/bin/env bash
# Throughput: redis-benchmark against tessera-server and redis-server 7.0 side by side.
#
# For each pipeline depth (-P 1 and -P 16) it runs ROUNDS interleaved rounds (Tessera, then
# Redis, then Tessera ...), each `redis-benchmark -t TESTS -n REQUESTS -r 100000 -c 50`, and
# prints the median requests/s of both servers and their ratio per test. Both servers run
# without persistence.
#
# On a machine whose cores are shared with the benchmark client, Tessera gets one worker
# thread fewer than there are cores (at least 1) so the client keeps a core: the two
# single-threaded peers (redis-server, redis-benchmark) then get the same machine.
#
# Besides redis-benchmark's own tests (TESTS; its LPOP pops what its LPUSH pushed), CUSTOM
# names commands on a sorted set of ZMEMBERS members (`m:000000000000` ...) loaded before
# each round: ZRANGE of its first 100 members and ZRANK of a random member.
#
# Usage: scripts/bench.sh     (ROUNDS=5 REQUESTS=1000000 TESTS=set,get,incr,hset,sadd,lpush,lpop,zadd)
#        ROUNDS=3 REQUESTS=200000 PIPELINES=16 CUSTOM=zrank scripts/bench.sh     (a quicker look)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-1000000}
TESTS=${TESTS:-set,get,incr,hset,sadd,lpush,lpop,zadd}
CUSTOM=${CUSTOM:-zrange100 zrank}
ZMEMBERS=${ZMEMBERS:-1000}
PIPELINES=${PIPELINES:-"1 16"}
CORES=$(nproc)
THREADS=${THREADS:-$(( CORES > 1 ? CORES - 1 : 1 ))}
OUT=target/bench/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

require_tools redis-server redis-benchmark redis-cli
cargo build --release --quiet

TPORT=$(free_port)
RPORT=$(free_port)
while [ "$RPORT" = "$TPORT" ]; do RPORT=$(free_port); done
target/release/tessera-server --port "$TPORT" --bind 127.0.0.1 --save "" --server-threads "$THREADS" \
    --logfile "$OUT/tessera.log" &
TPID=$!
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --logfile "$OUT/redis.log" &
RPID=$!
trap 'kill $TPID $RPID 2>/dev/null; wait $TPID $RPID 2>/dev/null || true' EXIT
for port in "$TPORT" "$RPORT"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); tessera threads: $THREADS"
echo "tessera $(target/release/tessera-server --version) on :$TPORT; $(redis-server --version | cut -d' ' -f1-3) on :$RPORT"
echo "redis-benchmark -t $TESTS -n $REQUESTS -r 100000 -c 50, $ROUNDS interleaved rounds; raw output in $OUT"
echo "custom: $CUSTOM on a $ZMEMBERS-member sorted set"

# The command line of a CUSTOM test.
custom_command() {
    case $1 in
        zrange100) echo "ZRANGE bench:zset 0 99" ;;
        zrank) echo "ZRANK bench:zset m:__rand_int__" ;;
        *) echo "unknown custom test $1" >&2; exit 2 ;;
    esac
}

# Loads the sorted set the CUSTOM tests read.
load_zset() {
    awk -v n="$ZMEMBERS" 'BEGIN {for (i = 0; i < n; i++) printf "ZADD bench:zset %d m:%012d\n", i, i}' \
        | redis-cli -p "$1" >/dev/null
}

# results file: pipeline server test rps
RESULTS="$OUT/results.tsv"
: > "$RESULTS"
for P in $PIPELINES; do
    for round in $(seq "$ROUNDS"); do
        for side in tessera redis; do
            port=$TPORT; [ "$side" = redis ] && port=$RPORT
            redis-cli -p "$port" flushall >/dev/null
            redis-benchmark -p "$port" -t "$TESTS" -n "$REQUESTS" -r 100000 -c 50 -P "$P" --csv \
                > "$OUT/$side-P$P-r$round.csv" 2>/dev/null
            tail -n +2 "$OUT/$side-P$P-r$round.csv" | tr -d '"' | \
                awk -F, -v p="$P" -v s="$side" '{print p "\t" s "\t" $1 "\t" $2}' >> "$RESULTS"
            redis-cli -p "$port" flushall >/dev/null
            load_zset "$port"
            for test in $CUSTOM; do
                # shellcheck disable=SC2046 # the command's words are separate arguments
                redis-benchmark -p "$port" -n "$REQUESTS" -r "$ZMEMBERS" -c 50 -P "$P" --csv \
                    $(custom_command "$test") > "$OUT/$side-P$P-r$round-$test.csv" 2>/dev/null
                tail -n +2 "$OUT/$side-P$P-r$round-$test.csv" | tr -d '"' | \
                    awk -F, -v p="$P" -v s="$side" -v t="$test" '{print p "\t" s "\t" toupper(t) "\t" $2}' \
                    >> "$RESULTS"
            done
        done
        echo "  -P $P round $round/$ROUNDS done" >&2
    done
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

printf "\n%-10s %-4s %14s %14s %7s\n" "test" "-P" "tessera ops/s" "redis ops/s" "ratio"
for P in $PIPELINES; do
    for test in $(cut -f3 "$RESULTS" | awk '!seen[$0]++'); do
        t=$(awk -F'\t' -v p="$P" -v x="$test" '$1==p && $2=="tessera" && $3==x {print $4}' "$RESULTS" | median)
        r=$(awk -F'\t' -v p="$P" -v x="$test" '$1==p && $2=="redis" && $3==x {print $4}' "$RESULTS" | median)
        ratio=$(awk -v t="$t" -v r="$r" 'BEGIN {printf "%.2f", (r > 0 ? t / r : 0)}')
        printf "%-10s %-4s %14.0f %14.0f %6sx\n" "$test" "$P" "$t" "$r" "$ratio"
    done
done
