"""redis-py against a running Tessera node: RESP2 and RESP3, pipelines, pub/sub.

Usage: python3 tests/interop/redis_py_smoke.py PORT  (run by tests/it/interop.rs)
"""
import sys
import time

import redis


def check(port, protocol):
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, decode_responses=True)
    assert r.ping() is True
    r.flushdb()
    assert r.set("py:k", "v", ex=100) is True
    assert r.get("py:k") == "v"
    assert 0 < r.ttl("py:k") <= 100
    assert r.incrbyfloat("py:f", 10.5) == 10.5
    assert r.hset("py:h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hgetall("py:h") == {"a": "1", "b": "2"}
    assert r.sadd("py:s", "x", "y") == 2
    assert r.smembers("py:s") == {"x", "y"}
    assert r.setbit("py:b", 7, 1) == 0
    assert r.bitcount("py:b") == 1
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.incr("py:n")
    assert pipe.execute()[-1] == 100
    keys = set(r.scan_iter(match="py:*", count=5))
    assert {"py:k", "py:f", "py:h", "py:s", "py:b", "py:n"} <= keys, keys
    try:
        r.incr("py:h")
        raise AssertionError("INCR on a hash must fail")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e
    ps = r.pubsub()
    ps.subscribe("py:chan")
    deadline = time.time() + 5
    msg = None
    while msg is None and time.time() < deadline:
        msg = ps.get_message(timeout=0.5)
    assert msg and msg["type"] == "subscribe", msg
    assert r.publish("py:chan", "hello") == 1
    msg = None
    while msg is None and time.time() < deadline:
        msg = ps.get_message(timeout=0.5)
    assert msg and msg["type"] == "message" and msg["data"] == "hello", msg
    ps.close()
    info = r.info("server")
    assert info["redis_version"] == "7.0.15", info
    r.close()


if __name__ == "__main__":
    port = int(sys.argv[1])
    for protocol in (2, 3):
        check(port, protocol)
    print("redis-py ok")
