#!/usr/bin/env python3
"""Generate src/commands/meta_data.rs from a running redis-server 7.0.15.

Tessera's command metadata (arity, flags, key specs, ACL categories, tips and the
COMMAND DOCS texts) must be what Redis 7.0 reports, because clients read it: redis-py
and Lettuce use COMMAND to route keys in cluster mode. Rather than transcribe it by
hand, we record what the reference server itself answers to COMMAND and COMMAND DOCS.

Usage: scripts/gen_command_meta.py [port]   (the server must already be running)
"""
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
OUT = "src/commands/meta_data.rs"


class Resp3:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(1 << 20)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self.line()
        kind, rest = chr(line[0]), line[1:]
        if kind in "+":
            return ("status", rest.decode())
        if kind == "-":
            raise RuntimeError(rest.decode())
        if kind == ":":
            return int(rest)
        if kind == "$":
            return self.exact(int(rest)).decode()
        if kind == "=":
            return self.exact(int(rest)).decode()[4:]
        if kind == "_":
            return None
        if kind in "*~":
            return [self.read() for _ in range(int(rest))]
        if kind == "%":
            n = int(rest)
            pairs = []
            for _ in range(n):
                k = self.read()
                pairs.append((k, self.read()))
            return dict(pairs)
        raise RuntimeError("unexpected reply type " + kind)


def plain(v):
    return v[1] if isinstance(v, tuple) else v


def rs_str(s):
    if s is None:
        return "None"
    return "Some(%s)" % lit(s)


def lit(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bits(prefix, names, table):
    names = [plain(n) for n in names]
    if not names:
        return prefix + "::empty()"
    parts = []
    for n in names:
        parts.append("%s::%s" % (prefix, table(n)))
    expr = parts[0]
    for p in parts[1:]:
        expr += ".union(%s)" % p
    return expr


def flag_ident(n):
    return n.upper()


def acl_ident(n):
    return n.lstrip("@").upper()


def key_flag_ident(n):
    return n.upper()


def key_spec(ks):
    bs, fk = ks["begin_search"], ks["find_keys"]
    if bs["type"] == "index":
        begin = "Begin::Index(%d)" % bs["spec"]["index"]
    elif bs["type"] == "keyword":
        begin = "Begin::Keyword { keyword: %s, startfrom: %d }" % (
            lit(bs["spec"]["keyword"]), bs["spec"]["startfrom"])
    else:
        begin = "Begin::Unknown"
    if fk["type"] == "range":
        s = fk["spec"]
        find = "Find::Range { lastkey: %d, keystep: %d, limit: %d }" % (
            s["lastkey"], s["keystep"], s["limit"])
    elif fk["type"] == "keynum":
        s = fk["spec"]
        find = "Find::Keynum { keynumidx: %d, firstkey: %d, keystep: %d }" % (
            s["keynumidx"], s["firstkey"], s["keystep"])
    else:
        find = "Find::Unknown"
    return "KeySpec { notes: %s, flags: %s, begin: %s, find: %s }" % (
        rs_str(ks.get("notes")), bits("KeyFlags", ks["flags"], key_flag_ident), begin, find)


def arg(a, depth):
    pad = "    " * depth
    sub = ""
    if "arguments" in a:
        sub = "&[\n" + "".join(arg(x, depth + 1) for x in a["arguments"]) + pad + "]"
    else:
        sub = "&[]"
    return (
        "%sArg { name: %s, kind: ArgKind::%s, key_spec_index: %d, token: %s, summary: %s, "
        "since: %s, deprecated_since: %s, flags: %s, arguments: %s },\n"
        % (pad, lit(a["name"]), a["type"].replace("-", "_").upper(), a.get("key_spec_index", -1),
           rs_str(a.get("token")), rs_str(a.get("summary")), rs_str(a.get("since")),
           rs_str(a.get("deprecated_since")), bits("ArgFlags", a.get("flags", []), str.upper), sub)
    )


def command(info, docs, depth):
    name, arity, flags, first, last, step, acl, tips, specs, subs = info
    d = docs.get(name, {})
    pad = "    " * depth
    sub_docs = d.get("subcommands", {})
    subs_rs = "&[]"
    if subs:
        subs = sorted(subs, key=lambda s: s[0])
        subs_rs = "&[\n" + "".join(command(s, sub_docs, depth + 1) for s in subs) + pad + "]"
    history = "&[" + ", ".join("(%s, %s)" % (lit(h[0]), lit(h[1])) for h in d.get("history", [])) + "]"
    args = "&[]"
    if "arguments" in d:
        args = "&[\n" + "".join(arg(a, depth + 1) for a in d["arguments"]) + pad + "]"
    return (
        "%sCommandMeta {\n"
        "%s    name: %s, arity: %d, flags: %s,\n"
        "%s    first_key: %d, last_key: %d, key_step: %d,\n"
        "%s    acl: %s,\n"
        "%s    tips: &[%s],\n"
        "%s    key_specs: &[%s],\n"
        "%s    doc: Doc { summary: %s, since: %s, group: %s, complexity: %s, doc_flags: %s, "
        "deprecated_since: %s, replaced_by: %s, history: %s, arguments: %s },\n"
        "%s    subcommands: %s,\n"
        "%s},\n"
    ) % (
        pad, pad, lit(name), arity, bits("CmdFlags", flags, flag_ident),
        pad, first, last, step,
        pad, bits("AclCategories", acl, acl_ident),
        pad, ", ".join(lit(t) for t in tips),
        pad, ", ".join(key_spec(k) for k in specs),
        pad, rs_str(d.get("summary")), rs_str(d.get("since")), lit(d.get("group", "generic")),
        rs_str(d.get("complexity")), bits("DocFlags", d.get("doc_flags", []), str.upper),
        rs_str(d.get("deprecated_since")), rs_str(d.get("replaced_by")), history, args,
        pad, subs_rs, pad,
    )


def main():
    conn = Resp3(PORT)
    conn.send("HELLO", "3")
    infos = conn.send("COMMAND")
    docs = conn.send("COMMAND", "DOCS")
    version = conn.send("INFO", "server")
    ver = [l for l in version.splitlines() if l.startswith("redis_version:")][0].split(":")[1]
    infos.sort(key=lambda c: c[0])
    out = [
        "//! Redis %s's command metadata, as its own COMMAND and COMMAND DOCS report it.\n" % ver,
        "//!\n",
        "//! Generated by `scripts/gen_command_meta.py` against a running redis-server; do not\n",
        "//! edit by hand. Handlers are bound to these entries by name in the family files.\n",
        "\n",
        "use super::meta::*;\n",
        "\n",
        "/// Every Redis %s command, sorted by name.\n" % ver,
        "pub static COMMANDS: &[CommandMeta] = &[\n",
    ]
    for info in infos:
        out.append(command(info, docs, 1))
    out.append("];\n")
    with open(OUT, "w") as f:
        f.write("".join(out))
    print("wrote %s: %d commands" % (OUT, len(infos)))


if __name__ == "__main__":
    main()
