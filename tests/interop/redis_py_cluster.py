"""redis-py's RedisCluster against a running cluster: slot routing of plain keys over all
16384 slots (cluster pipelines), hash-tag multi-key commands, CLUSTER KEYSLOT, and the
CROSSSLOT and MOVED errors a plain connection to one node gets.

Usage: python3 tests/interop/redis_py_cluster.py HOST PORT [NKEYS=20000]
  (HOST:PORT is any node of the cluster; run against Tessera by a Rust integration test,
  and against redis-server 7.0 made by scripts/cluster.sh to check the check itself)
Exits 0 after one summary line, or 1 with the first failed check.
"""
import os
import re
import sys
import time

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ClusterCrossSlotError, MovedError

SLOTS = 16384
BATCH = 1000
# Keys of this run only, so that leftovers of an earlier run cannot pass the read-back.
RUN = f"{os.getpid()}.{int(time.time() * 1000)}"
SOCKET_TIMEOUT = 10


class CheckFailed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def slot_of(key):
    return key_slot(key.encode())


def spread_keys(n):
    """n plain keys `key:<i>` (no hash tags), one in every slot first when n allows."""
    chosen, extra, seen, i = [], [], set(), 0
    want = min(n, SLOTS)
    # Every slot shows up within ~10x16384 candidates; the bound keeps a bad crc from looping.
    while len(chosen) < want and i < 50 * SLOTS:
        key = f"key:{i}"
        s = slot_of(key)
        if s in seen:
            if len(chosen) + len(extra) < n:
                extra.append(key)
        else:
            seen.add(s)
            chosen.append(key)
        i += 1
    keys = chosen + extra[: n - len(chosen)]
    while len(keys) < n:
        keys.append(f"key:{i}")
        i += 1
    return keys


def value_of(key):
    return f"{RUN}:{key}"


def wire_error(e):
    """The error line as the server sent it: redis-py strips the code (MOVED, CROSSSLOT ...)
    off the message and keeps it in status_code (older redis-py: only in the class)."""
    code = getattr(e, "status_code", None)
    if code is None:
        code = {ClusterCrossSlotError: "CROSSSLOT", MovedError: "MOVED"}.get(type(e))
    return f"{code} {e}" if code else str(e)


def write_and_read(rc, keys):
    for start in range(0, len(keys), BATCH):
        pipe = rc.pipeline()
        for key in keys[start : start + BATCH]:
            pipe.set(key, value_of(key))
        replies = pipe.execute()
        bad = [(k, r) for k, r in zip(keys[start : start + BATCH], replies) if r is not True]
        check(not bad, f"SET through the cluster pipeline failed: {bad[:3]}")
    for start in range(0, len(keys), BATCH):
        pipe = rc.pipeline()
        chunk = keys[start : start + BATCH]
        for key in chunk:
            pipe.get(key)
        replies = pipe.execute()
        bad = [f"{k}: {r!r}, expected {value_of(k)!r}" for k, r in zip(chunk, replies) if r != value_of(k)]
        check(not bad, f"{len(bad)} of {len(chunk)} keys read back wrong, e.g. {'; '.join(bad[:3])}")
    # A few single-key round trips too, outside the pipeline's own routing.
    for key in keys[:: max(1, len(keys) // 50)]:
        check(rc.get(key) == value_of(key), f"GET {key} returned {rc.get(key)!r}")


def check_keyslot(rc, keys):
    samples = keys[:: max(1, len(keys) // 200)] + [
        "", "foo", "{user1000}.following", "{user1000}.followers", "foo{}{bar}",
        "foo{{bar}}zap", "foo{bar}{zap}", "{}", "{a}", "a{b", "a}b{c}", "\u00e9t\u00e9{\u00fc}",
    ]
    for key in samples:
        server = rc.cluster_keyslot(key)
        check(server == rc.keyslot(key) == slot_of(key),
              f"slot of {key!r}: CLUSTER KEYSLOT {server}, RedisCluster.keyslot {rc.keyslot(key)}, "
              f"key_slot {slot_of(key)}")
    return len(samples)


def check_hash_tags(rc):
    a, b = f"{{py:{RUN}}}a", f"{{py:{RUN}}}b"
    check(slot_of(a) == slot_of(b), "hash-tagged keys must share a slot")
    check(rc.mset({a: "1", b: "2"}) is True, "MSET of two hash-tagged keys failed")
    check(rc.mget(a, b) == ["1", "2"], f"MGET {a} {b} returned {rc.mget(a, b)}")
    check(rc.delete(a, b) == 2, "DEL of two hash-tagged keys did not delete both")


def cluster_nodes(host, port):
    """CLUSTER NODES as the server wrote it (redis.Redis would parse it into a dict)."""
    conn = redis.Connection(host=host, port=port, decode_responses=True,
                            socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    try:
        conn.send_command("CLUSTER", "NODES")
        return conn.read_response()
    finally:
        conn.disconnect()


def node_view(host, port):
    """(my id, the id of the master serving my slots, {master id: (addr, set of slots)})."""
    masters, me, my_master = {}, None, None
    for line in cluster_nodes(host, port).splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        addr = f[1].split("@")[0]
        flags = f[2].split(",")
        if "myself" in flags:
            me = f[0]
            my_master = f[3] if "slave" in flags else f[0]
        if "master" in flags:
            slots = set()
            for r in f[8:]:
                if r.startswith("["):
                    continue
                lo, _, hi = r.partition("-")
                slots.update(range(int(lo), int(hi or lo) + 1))
            masters[f[0]] = (addr, slots)
    check(me is not None, "CLUSTER NODES has no myself line")
    check(my_master in masters, f"CLUSTER NODES does not list my master {my_master}")
    return me, my_master, masters


def check_plain_errors(host, port, keys):
    plain = redis.Redis(host=host, port=port, decode_responses=True,
                        socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    try:
        _, my_master, masters = node_view(host, port)
        mine = masters[my_master][1]
        # Both keys in slots this node's shard serves: CROSSSLOT is the only right answer,
        # whichever of the two checks a server makes first.
        local = [k for k in keys if slot_of(k) in mine]
        pair = next(((x, y) for x in local[:1] for y in local if slot_of(y) != slot_of(x)), None)
        check(pair is not None, f"no two keys in different slots served by {host}:{port}")
        try:
            plain.mset({pair[0]: "x", pair[1]: "y"})
            raise CheckFailed(f"cross-slot MSET {pair} on a plain connection succeeded")
        except redis.ResponseError as e:
            msg = wire_error(e)
            check(msg.startswith("CROSSSLOT Keys in request don't hash to the same slot"),
                  f"cross-slot MSET: expected the CROSSSLOT error, got {msg!r}")

        other = next((k for k in keys if slot_of(k) not in mine), None)
        check(other is not None, "every key is served by this node: no MOVED to provoke")
        owner = next(addr for addr, slots in masters.values() if slot_of(other) in slots)
        try:
            plain.get(other)
            raise CheckFailed(f"GET {other} (slot {slot_of(other)}, served by {owner}) "
                              f"on {host}:{port} was not redirected")
        except redis.ResponseError as e:
            msg = wire_error(e)
            m = re.fullmatch(r"MOVED (\d+) (\S+):(\d+)", msg)
            check(m is not None, f"GET of another node's key: expected MOVED <slot> <ip>:<port>, got {msg!r}")
            check(int(m.group(1)) == slot_of(other), f"{msg!r}: slot should be {slot_of(other)}")
            check(f"{m.group(2)}:{m.group(3)}" == owner, f"{msg!r}: CLUSTER NODES says {owner} serves it")
        return owner
    finally:
        plain.close()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python3 tests/interop/redis_py_cluster.py HOST PORT [NKEYS=20000]")
    host, port = sys.argv[1], int(sys.argv[2])
    nkeys = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    t0 = time.monotonic()
    check(nkeys >= 1, "NKEYS must be at least 1")
    # One key in every slot first: the error checks below pick keys of chosen nodes from it.
    probe = spread_keys(max(nkeys, SLOTS))
    keys = probe[:nkeys]
    slots = {slot_of(k) for k in keys}
    need = min(16000, nkeys)
    check(len(slots) >= need, f"{nkeys} keys cover {len(slots)} slots, fewer than {need}")

    rc = RedisCluster(host=host, port=port, decode_responses=True,
                      socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    try:
        primaries = rc.get_primaries()
        check(len(primaries) >= 1, "RedisCluster found no primaries")
        write_and_read(rc, keys)
        sampled = check_keyslot(rc, keys)
        check_hash_tags(rc)
        check_plain_errors(host, port, probe)
        for start in range(0, len(keys), BATCH):
            pipe = rc.pipeline()
            for key in keys[start : start + BATCH]:
                pipe.delete(key)
            check(sum(pipe.execute()) == len(keys[start : start + BATCH]), "DEL of the keys failed")
    finally:
        rc.close()
    print(f"redis-py cluster ok: {nkeys} keys over {len(slots)} slots on {len(primaries)} primaries "
          f"written and read back, {sampled} keyslots agree, hash-tag MSET/MGET, CROSSSLOT and "
          f"MOVED checked ({time.monotonic() - t0:.1f}s)")


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        sys.exit(f"redis-py cluster FAILED: {e}")
    except Exception as e:  # RedisClusterException is no RedisError; all are reported alike
        sys.exit(f"redis-py cluster FAILED: {type(e).__name__}: {e}")
