"""A cluster client writing and reading while slots move (redis-py's RedisCluster, which
follows MOVED and ASK and retries TRYAGAIN by itself), then a check of every key.

Usage:
  python3 tests/interop/reshard_traffic.py traffic HOST PORT STOP_FILE MAX_SECONDS
      Writes t:<i> = <i> (i = 0, 1, ...) and after each write reads back a random earlier
      key, until STOP_FILE exists or MAX_SECONDS pass. Any exception the client raises (it
      handles redirections itself) counts as an error. Prints one line:
      "writes W reads R errors E" and then up to 10 errors; exits 1 if E > 0 or a read
      returned a wrong value.
  python3 tests/interop/reshard_traffic.py verify HOST PORT PREFILLED WRITTEN
      Reads key:<i> (i < PREFILLED, as scripts/cluster_fill.py wrote them) and t:<i>
      (i < WRITTEN) through the cluster; prints "missing M wrong W" and exits 1 unless both
      are 0.
"""
import os
import random
import sys
import time

from redis.cluster import RedisCluster


def traffic(rc, stop_file, max_seconds):
    deadline = time.monotonic() + max_seconds
    writes = reads = 0
    errors = []
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        try:
            rc.set(f"t:{writes}", str(writes))
            writes += 1
            j = random.randrange(writes)
            value = rc.get(f"t:{j}")
            reads += 1
            if value != str(j).encode():
                errors.append(f"t:{j} read back {value!r}")
        except Exception as e:  # every error the client surfaces is a failure here
            errors.append(f"{type(e).__name__}: {e}")
            time.sleep(0.01)
    print(f"writes {writes} reads {reads} errors {len(errors)}")
    for e in errors[:10]:
        print(f"  {e}")
    return 1 if errors else 0


def verify(rc, prefilled, written):
    expected = [(f"key:{i}", None) for i in range(prefilled)]
    expected += [(f"t:{i}", str(i).encode()) for i in range(written)]
    missing = wrong = 0
    for start in range(0, len(expected), 1000):
        chunk = expected[start:start + 1000]
        pipe = rc.pipeline()
        for key, _ in chunk:
            pipe.get(key)
        for (key, want), got in zip(chunk, pipe.execute()):
            if got is None:
                missing += 1
            elif want is not None and got != want:
                wrong += 1
    print(f"missing {missing} wrong {wrong}")
    return 1 if missing or wrong else 0


def main(argv):
    if len(argv) != 6 or argv[1] not in ("traffic", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    rc = RedisCluster(host=argv[2], port=int(argv[3]), socket_timeout=10)
    if argv[1] == "traffic":
        return traffic(rc, argv[4], float(argv[5]))
    return verify(rc, int(argv[4]), int(argv[5]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
