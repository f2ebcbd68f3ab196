# shellcheck shell=bash
# Helpers shared by the measuring scripts (sourced, not run).

# A port below 22768 whose bus port (+10000) is free too.
free_port() {
    local p
    for p in $(shuf -i 12000-22000 -n 200); do
        if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$((p + 10000))) 2>/dev/null; then
            echo "$p"; return
        fi
    done
    echo "no free port" >&2; exit 1
}

# Fails unless every named tool is installed.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install redis-server redis-tools)"; exit 1; }
    done
}

# A field of an INFO or CLUSTER INFO reply (`name:value` lines, \r already removed).
info_field() { awk -F: -v f="$2" '$1 == f {print $2}' <<<"$1"; }

# Field 22 of /proc/PID/stat, the process's start time: a recorded PID that the kernel
# has since given to another process has a different one, and is never signalled.
start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    awk '{print $20}' <<<"$stat"
}

# Microseconds since the epoch (EPOCHREALTIME's separator follows the locale; bash 5).
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# Reads CLUSTER NODES; prints "master_port replica_port" for each live master with a live
# replica, masters in port order.
master_replica_pairs() {
    awk '
        {split($2, a, "@"); n = split(a[1], b, ":"); port[$1] = b[n]}
        $3 ~ /(^|,)master(,|$)/ && $3 !~ /fail/ {m[$1] = 1}
        $3 ~ /(^|,)slave(,|$)/ && $3 !~ /fail/ {r[$4] = $1}
        END {for (id in m) if (id in r) print port[id], port[r[id]]}' | sort -n
}
