#!/usr/bin/env bash
# The one test command (named in the README, run by .ci/run): installs what the tests need
# on a fresh machine, checks formatting and lints, and runs the whole suite, including the
# differential tests against redis-server 7.0.15.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

# The reference peer: redis-server / redis-cli / redis-benchmark 7.0 from Debian's packages.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null \
    || ! command -v redis-benchmark >/dev/null; then
    echo "== installing redis-server redis-tools (reference peer for interop tests)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
redis-server --version

# redis-py, for the client interop test (from PyPI).
# (redis.cluster, redis.backoff, redis.retry and redis.crc: redis-py 4.1 or later.)
if ! python3 -c "import redis.cluster, redis.backoff, redis.retry, redis.crc" 2>/dev/null; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    fi
    echo "== installing redis-py (client interop test)"
    python3 -m pip install --quiet --disable-pip-version-check --upgrade redis \
        || python3 -m pip install --quiet --disable-pip-version-check --upgrade --break-system-packages redis
fi

# Tests that need the reference peer fail (instead of skipping) when it is missing.
export TESSERA_REQUIRE_REDIS=1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast
else
    cargo test --locked --no-fail-fast
fi

# Issue 7, point 4: acknowledged writes survive kill-a-master failovers (a short run; the
# full one is `scripts/failover-writes.sh`, 20 rounds). Ports 22701-22706 (bus ports
# +10000, still below 32768) lie above the window the tests draw their ports from.
echo "== failover-writes: WAIT 1 writer across 3 kill-a-master failovers"
# The debug build the tests just used: correctness, not speed, is measured here.
ROUNDS=3 PORT=22701 SERVER="${CARGO_TARGET_DIR:-target}/debug/tessera-server" scripts/failover-writes.sh

