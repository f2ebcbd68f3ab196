#!/usr/bin/env python3
"""A cluster writer that keeps only what a replica acknowledged, and its checker.

  acked_writer.py write HOST PORT[,PORT...] ACKED_FILE STOP_FILE
      Writes keys w:<n> = <n> (n = 1, 2, ...) to the master of each key's slot, each SET
      followed by WAIT 1 1000 on the same connection. A write that SET answered OK and WAIT
      answered >= 1 is acknowledged: its key is appended to ACKED_FILE (flushed at once).
      Follows MOVED, refreshes the slot map from CLUSTER SLOTS after any error, and keeps
      going through failovers until STOP_FILE exists. Prints counts when it stops.

  acked_writer.py verify HOST PORT[,PORT...] ACKED_FILE
      Reads every key in ACKED_FILE back from its slot's master and prints how many are
      missing or hold another value; exits 1 if any is.

Used by scripts/failover-writes.sh. Needs redis-py (scripts/test.sh installs it).
"""

import os
import random
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

SLOTS = 16384
# redis-py retries a failed connection with backoff by default: against a killed master that
# stalls the writer for seconds. Errors are handled here instead.
NO_RETRY = Retry(NoBackoff(), 0)


class Router:
    """The slot map of a cluster and one connection per master."""

    def __init__(self, host, seeds):
        self.host = host
        self.seeds = seeds
        self.owner = [None] * SLOTS
        self.conns = {}

    def refresh(self):
        seeds = list(self.seeds) + [p for p in set(self.owner) if p is not None]
        random.shuffle(seeds)
        for port in seeds:
            try:
                r = redis.Redis(host=self.host, port=port, socket_timeout=1,
                                socket_connect_timeout=1, retry=NO_RETRY)
                ranges = r.execute_command("CLUSTER", "SLOTS")
                r.close()
            except redis.RedisError:
                continue
            if not ranges:
                continue
            for entry in ranges:
                start, end, master = entry[0], entry[1], entry[2]
                for slot in range(start, end + 1):
                    self.owner[slot] = int(master[1])
            return True
        return False

    def conn(self, port):
        c = self.conns.get(port)
        if c is None:
            # One socket per master, so WAIT follows its SET on the same connection.
            c = redis.Redis(host=self.host, port=port, socket_timeout=2,
                            socket_connect_timeout=1, single_connection_client=True,
                            decode_responses=True, retry=NO_RETRY)
            self.conns[port] = c
        return c

    def drop(self, port):
        c = self.conns.pop(port, None)
        if c is not None:
            try:
                c.close()
            except redis.RedisError:
                pass

    def moved(self, err):
        # "MOVED <slot> <host>:<port>"
        parts = str(err).split()
        if len(parts) == 3 and parts[0] == "MOVED":
            self.owner[int(parts[1])] = int(parts[2].rsplit(":", 1)[1])
            return True
        return False


def write(router, acked_path, stop_path):
    counts = {"acked": 0, "unacked": 0, "errors": 0, "skipped": 0}
    # A master that just failed is left alone for a moment (keys of its slots are skipped),
    # so the other masters' slots keep being written at full speed during a failover.
    resting = {}
    last_refresh = 0.0
    skips_in_a_row = 0
    n = 0

    def refresh_soon(now):
        nonlocal last_refresh
        if now - last_refresh > 0.1:
            router.refresh()
            last_refresh = now

    with open(acked_path, "a", encoding="ascii") as acked:
        while not os.path.exists(stop_path):
            n += 1
            key = f"w:{n}"
            port = router.owner[key_slot(key.encode())]
            now = time.monotonic()
            if port is None or resting.get(port, 0.0) > now:
                counts["skipped"] += 1
                refresh_soon(now)
                skips_in_a_row += 1
                if skips_in_a_row % 100 == 0:
                    time.sleep(0.01)
                continue
            skips_in_a_row = 0
            try:
                # single_connection_client connects here: inside the try.
                c = router.conn(port)
                if c.set(key, str(n)) is not True:
                    counts["errors"] += 1
                    continue
                if int(c.execute_command("WAIT", 1, 1000)) >= 1:
                    acked.write(key + "\n")
                    acked.flush()
                    counts["acked"] += 1
                else:
                    counts["unacked"] += 1
            except redis.ResponseError as e:
                counts["errors"] += 1
                if not router.moved(e):
                    # CLUSTERDOWN, READONLY, ...: the map is changing.
                    resting[port] = now + 0.05
                    refresh_soon(now)
            except (redis.ConnectionError, redis.TimeoutError):
                counts["errors"] += 1
                router.drop(port)
                resting[port] = now + 0.1
                refresh_soon(now)
    print(f"writer: {n - counts['skipped']} writes, {counts['acked']} acknowledged, "
          f"{counts['unacked']} written but not acknowledged, {counts['errors']} errors "
          f"({counts['skipped']} keys skipped while their master was failing)", flush=True)


def verify(router, acked_path):
    with open(acked_path, encoding="ascii") as f:
        keys = [line.strip() for line in f if line.strip()]
    if not router.refresh():
        print("verify: no node answered CLUSTER SLOTS")
        return 1
    by_port = {}
    for key in keys:
        by_port.setdefault(router.owner[key_slot(key.encode())], []).append(key)
    lost = []
    for port, port_keys in by_port.items():
        try:
            c = router.conn(port)
        except redis.RedisError as e:
            print(f"verify: master {port} of {len(port_keys)} keys: {e}")
            lost.extend((key, None) for key in port_keys)
            continue
        for i in range(0, len(port_keys), 1000):
            chunk = port_keys[i:i + 1000]
            pipe = c.pipeline(transaction=False)
            for key in chunk:
                pipe.get(key)
            for key, value in zip(chunk, pipe.execute(raise_on_error=False)):
                if value != key[2:]:
                    lost.append((key, value))
    print(f"verify: {len(keys)} acknowledged writes, {len(lost)} lost")
    for key, value in lost[:20]:
        print(f"  {key}: {value!r}")
    return 1 if lost else 0


def main(argv):
    if len(argv) < 5 or argv[1] not in ("write", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    host = argv[2]
    seeds = [int(p) for p in argv[3].split(",")]
    router = Router(host, seeds)
    if argv[1] == "write":
        if len(argv) != 6:
            print(__doc__, file=sys.stderr)
            return 2
        router.refresh()
        write(router, argv[4], argv[5])
        return 0
    return verify(router, argv[4])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
