#!/usr/bin/env python3
"""Fills a cluster fast: cluster_fill.py HOST PORT COUNT [VALUE_SIZE]

Writes key:<i> (i = 0 .. COUNT-1) with a VALUE_SIZE-byte value (default 16) to the master
of each key's slot, taken from CLUSTER SLOTS, pipelining 10,000 SETs per round trip on one
connection per master. Exits 1 if any SET is not answered +OK. Used by
scripts/reshard-bench.sh; needs redis-py (for CLUSTER SLOTS and the slot function).
"""

import socket
import sys

import redis
from redis.crc import key_slot

BATCH = 10_000


def owners(host, port):
    ranges = redis.Redis(host=host, port=port).execute_command("CLUSTER", "SLOTS")
    table = [None] * 16384
    for entry in ranges:
        for slot in range(entry[0], entry[1] + 1):
            table[slot] = int(entry[2][1])
    return table


def send_batch(sock, commands):
    sock.sendall(b"".join(commands))
    want = b"+OK\r\n" * len(commands)
    got = bytearray()
    while len(got) < len(want):
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed")
        got += chunk
    if bytes(got) != want:
        raise RuntimeError(f"unexpected replies: {bytes(got[:200])!r}")


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    host, port, count = argv[1], int(argv[2]), int(argv[3])
    value = b"v" * (int(argv[4]) if len(argv) == 5 else 16)
    table = owners(host, port)
    socks = {}
    pending = {}
    for i in range(count):
        key = b"key:%d" % i
        node = table[key_slot(key)]
        cmd = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
        pending.setdefault(node, []).append(cmd)
        if len(pending[node]) == BATCH:
            if node not in socks:
                socks[node] = socket.create_connection((host, node))
            send_batch(socks[node], pending.pop(node))
    for node, commands in pending.items():
        if node not in socks:
            socks[node] = socket.create_connection((host, node))
        send_batch(socks[node], commands)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
