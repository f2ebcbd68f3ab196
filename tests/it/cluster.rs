//! Cluster mode (issue 6): clusters built by `redis-cli --cluster create`, Tessera alone and
//! mixed with redis-server 7.0.15; cluster clients (redis-cli -c, redis-py RedisCluster)
//! and plain clients' redirections; restarts from nodes.conf after SIGTERM and SIGKILL;
//! random and truncated packets on the bus.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::common::{RawClient, Resp, TestServer, skip_without_redis};
use tessera::cluster::bus::wire::{
    Body, Gossip, Message, MessageHeader, NetIp, NodeId, PingBody, PingExt, Publish, SlotBitmap,
};

pub(super) const NODE_TIMEOUT: &str = "2000";

/// Replicas of both kinds say `capa eof`, so primaries of both kinds stream snapshots
/// diskless, by default after waiting 5 s for more replicas: the tests do not wait.
pub(super) fn cluster_args() -> Vec<&'static str> {
    vec![
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        NODE_TIMEOUT,
        "--repl-diskless-sync-delay",
        "0",
    ]
}

pub(super) fn start_tessera() -> TestServer {
    TestServer::tessera(&cluster_args())
}

/// Three Tessera primaries made one cluster by `redis-cli --cluster create`, ok.
pub(super) fn three_primaries() -> (Vec<TestServer>, Vec<u16>) {
    let nodes: Vec<TestServer> = (0..3).map(|_| start_tessera()).collect();
    create(&nodes.iter().collect::<Vec<_>>(), 0);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    wait_ok(&ports, 3, Duration::from_secs(30)).expect("cluster ok");
    (nodes, ports)
}

pub(super) fn start_redis() -> TestServer {
    TestServer::redis(&cluster_args())
}

fn addrs(nodes: &[&TestServer]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect()
}

/// `redis-cli --cluster create` over `nodes`; panics with its output if it fails.
pub(super) fn create(nodes: &[&TestServer], replicas: usize) {
    let out = Command::new("timeout")
        .arg("60")
        .arg("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(addrs(nodes))
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster create");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("[OK] All 16384 slots covered"),
        "redis-cli --cluster create failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `redis-cli --cluster check` from `port`: passes when it reports no error.
pub(super) fn check(port: u16) -> Result<String, String> {
    let out = Command::new("timeout")
        .args(["30", "redis-cli", "--cluster", "check"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("run redis-cli --cluster check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let ok = out.status.success()
        && !text.contains("[ERR]")
        && !text.contains("[WARNING]")
        && text.contains("[OK] All nodes agree about slots configuration.")
        && text.contains("[OK] All 16384 slots covered.");
    if ok { Ok(text) } else { Err(text) }
}

pub(super) fn cluster_info(port: u16, field: &str) -> String {
    let Ok(mut c) = RawClient::try_connect(port) else {
        return String::new();
    };
    let Ok(reply) = c.try_cmd(&["CLUSTER", "INFO"]) else {
        return String::new();
    };
    reply
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Waits (bounded) until every node says the cluster is ok and knows `known` nodes.
pub(super) fn wait_ok(ports: &[u16], known: usize, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let pending: Vec<String> = ports
            .iter()
            .filter_map(|p| {
                let state = cluster_info(*p, "cluster_state");
                let nodes = cluster_info(*p, "cluster_known_nodes");
                (state != "ok" || nodes != known.to_string())
                    .then(|| format!("{p}: state={state} known={nodes}"))
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(pending.join(", "));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One node's view of the whole cluster, without the parts that differ between observers
/// (ping times, link state, the myself flag): id → (address, role flags, primary, epoch,
/// slots).
pub(super) fn topology(port: u16) -> BTreeMap<String, String> {
    let text = RawClient::connect(port).cmd(&["CLUSTER", "NODES"]).text();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let flags: Vec<&str> = f[2].split(',').filter(|f| *f != "myself").collect();
            let view = format!(
                "{} {} {} {} {}",
                f[1].split('@').next().unwrap_or(""),
                flags.join(","),
                f[3],
                f[6],
                f[8..].join(" ")
            );
            (f[0].to_string(), view)
        })
        .collect()
}

fn topologies_agree(ports: &[u16]) -> Result<BTreeMap<String, String>, String> {
    let first = topology(ports[0]);
    for p in &ports[1..] {
        let other = topology(*p);
        if other != first {
            return Err(format!("{} sees {first:#?}\n{p} sees {other:#?}", ports[0]));
        }
    }
    Ok(first)
}

/// Waits (bounded) until every node reports the same topology.
pub(super) fn wait_agree(ports: &[u16]) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match topologies_agree(ports) {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => panic!("nodes disagree: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

pub(super) fn items(r: &Resp) -> Vec<Resp> {
    match r {
        Resp::Array(v) => v.clone(),
        Resp::Map(pairs) => pairs
            .iter()
            .flat_map(|(k, v)| [k.clone(), v.clone()])
            .collect(),
        other => panic!("not an aggregate: {other:?}"),
    }
}

/// The slot ranges of a CLUSTER NODES line's slot fields (`0-5460`, `5461`), open-slot
/// entries (`[5->-id]`) left out.
pub(super) fn slot_ranges(fields: &[&str]) -> Vec<(u16, u16)> {
    fields
        .iter()
        .filter(|r| !r.starts_with('['))
        .map(|r| match r.split_once('-') {
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
            None => (r.parse().unwrap(), r.parse().unwrap()),
        })
        .collect()
}

/// A primary's slot ranges and its replicas' ids.
type Shard = (Vec<(i64, i64)>, Vec<String>);

/// CLUSTER NODES, SLOTS and SHARDS of one node describe the same primaries, replicas and
/// slot ranges.
fn assert_views_consistent(port: u16) {
    let mut c = RawClient::connect(port);
    let nodes = c.cmd(&["CLUSTER", "NODES"]).text();
    // From NODES: primary id → (slot ranges, replica ids).
    let mut from_nodes: BTreeMap<String, Shard> = BTreeMap::new();
    for line in nodes.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f[2].contains("master") {
            let ranges = slot_ranges(&f[8..])
                .into_iter()
                .map(|(a, b)| (i64::from(a), i64::from(b)))
                .collect();
            from_nodes.entry(f[0].into()).or_default().0 = ranges;
        } else {
            from_nodes
                .entry(f[3].into())
                .or_default()
                .1
                .push(f[0].into());
        }
    }
    for v in from_nodes.values_mut() {
        v.1.sort();
    }
    // From SLOTS: every range names its primary; replicas listed are the primary's.
    for range in items(&c.cmd(&["CLUSTER", "SLOTS"])) {
        let r = items(&range);
        let (start, end) = (r[0].int(), r[1].int());
        let primary = items(&r[2])[2].text();
        let (ranges, replicas) = &from_nodes[&primary];
        assert!(
            ranges.contains(&(start, end)),
            "SLOTS range {start}-{end} of {primary}"
        );
        for replica in &r[3..] {
            assert!(replicas.contains(&items(replica)[2].text()));
        }
    }
    // From SHARDS: the same primaries, slots and replicas.
    let mut from_shards = BTreeMap::new();
    for shard in items(&c.cmd(&["CLUSTER", "SHARDS"])) {
        let s = items(&shard);
        let slots: Vec<i64> = items(&s[1]).iter().map(Resp::int).collect();
        let ranges: Vec<(i64, i64)> = slots.chunks(2).map(|p| (p[0], p[1])).collect();
        let mut primary = String::new();
        let mut replicas = Vec::new();
        for node in items(&s[3]) {
            let fields = items(&node);
            let get = |k: &str| {
                fields
                    .chunks(2)
                    .find(|p| p[0].text() == k)
                    .map(|p| p[1].clone())
                    .unwrap_or(Resp::Null)
            };
            match get("role").text().as_str() {
                "master" => primary = get("id").text(),
                _ => replicas.push(get("id").text()),
            }
        }
        replicas.sort();
        from_shards.insert(primary, (ranges, replicas));
    }
    assert_eq!(
        from_shards, from_nodes,
        "CLUSTER SHARDS and CLUSTER NODES differ"
    );
}

pub(super) fn redis_py_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("TESSERA_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
        panic!("redis-py is required (TESSERA_REQUIRE_REDIS=1) but not installed");
    }
    ok
}

/// redis-py's RedisCluster writes and reads `keys` keys over every slot through `port`.
fn redis_py_roundtrip(port: u16, keys: usize) {
    if !redis_py_available() {
        eprintln!("redis-py not installed: skipping its cluster check");
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/redis_py_cluster.py"
    );
    let out = Command::new("timeout")
        .args(["120", "python3", script, "127.0.0.1"])
        .arg(port.to_string())
        .arg(keys.to_string())
        .output()
        .expect("run the redis-py cluster check");
    assert!(
        out.status.success(),
        "redis-py cluster check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// redis-cli -c follows redirections: every key written through one node reads back
/// through another.
pub(super) fn redis_cli_roundtrip(write_port: u16, read_port: u16, keys: usize) {
    let cli = |port: u16, args: &[String]| {
        let out = Command::new("timeout")
            .args(["10", "redis-cli", "-c", "-p"])
            .arg(port.to_string())
            .args(args)
            .output()
            .expect("run redis-cli -c");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for i in 0..keys {
        let key = format!("cli:{i}");
        assert_eq!(
            cli(write_port, &["SET".into(), key.clone(), format!("v{i}")]),
            "OK"
        );
        assert_eq!(cli(read_port, &["GET".into(), key]), format!("v{i}"));
    }
}

/// A plain client gets Redis's exact redirections.
fn assert_plain_client_redirections(ports: &[u16]) {
    let mut c = RawClient::connect(ports[0]);
    let owner_of = |slot: i64| -> u16 {
        let reply = c_cmd(ports[0], &["CLUSTER", "SLOTS"]);
        for range in items(&reply) {
            let r = items(&range);
            if r[0].int() <= slot && slot <= r[1].int() {
                return items(&r[2])[1].int() as u16;
            }
        }
        panic!("slot {slot} not served");
    };
    // "foo" hashes to 12182, "bar" to 5061.
    let foo_owner = owner_of(12182);
    let other = *ports.iter().find(|p| **p != foo_owner).unwrap();
    let mut c2 = RawClient::connect(other);
    let reply = c2.cmd(&["GET", "foo"]);
    if other != foo_owner {
        let moved = format!("MOVED 12182 127.0.0.1:{foo_owner}");
        // A replica of foo's owner also redirects a client that did not send READONLY.
        assert_eq!(reply, Resp::Error(moved));
    }
    let cross = c.cmd(&["MSET", "foo", "1", "bar", "2"]);
    assert_eq!(
        cross,
        Resp::Error("CROSSSLOT Keys in request don't hash to the same slot".into())
    );
    let mut owner = RawClient::connect(foo_owner);
    assert_eq!(owner.cmd(&["SET", "foo", "x"]), Resp::Simple("OK".into()));
    assert_eq!(
        owner.cmd(&["MSET", "{foo}a", "1", "{foo}b", "2"]),
        Resp::Simple("OK".into())
    );
    // Inside MULTI a redirection fails the transaction, as in Redis.
    owner.cmd(&["MULTI"]);
    assert!(owner.cmd(&["GET", "bar"]).is_error());
    assert!(owner.cmd(&["EXEC"]).text().starts_with("EXECABORT"));
}

pub(super) fn c_cmd(port: u16, args: &[&str]) -> Resp {
    RawClient::connect(port).cmd(args)
}

#[test]
fn tessera_cluster_created_used_and_restarted() {
    if skip_without_redis() {
        return;
    }
    let mut nodes: Vec<TestServer> = (0..6).map(|_| start_tessera()).collect();
    create(&nodes.iter().collect::<Vec<_>>(), 1);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok");
    let topology = wait_agree(&ports);
    assert_eq!(topology.len(), 6);
    assert_eq!(
        topology.values().filter(|v| v.contains(" master ")).count(),
        3
    );
    check(ports[0]).expect("redis-cli --cluster check passes");
    for p in &ports {
        assert_views_consistent(*p);
        assert_eq!(cluster_info(*p, "cluster_size"), "3");
        assert_eq!(cluster_info(*p, "cluster_current_epoch"), "6");
    }

    // Clients: cluster-aware ones follow redirections, plain ones see Redis's errors.
    redis_cli_roundtrip(ports[0], ports[3], 30);
    redis_py_roundtrip(ports[1], 20_000);
    assert_plain_client_redirections(&ports);

    // Restarts keep ids, epochs, roles and slots: SIGTERM, then SIGKILL.
    for graceful in [true, false] {
        let mut dirs = Vec::new();
        for mut node in nodes.drain(..) {
            if graceful {
                assert_eq!(node.terminate(), Some(0), "SIGTERM exits cleanly");
            }
            let port = node.port;
            dirs.push((port, node.stop_keeping_dir()));
        }
        for (port, dir) in dirs {
            let node = TestServer::tessera_at(port, dir, &cluster_args())
                .unwrap_or_else(|log| panic!("restart on {port} failed:\n{log}"));
            nodes.push(node);
        }
        wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok after restart");
        let after = wait_agree(&ports);
        assert_eq!(
            after, topology,
            "restart (graceful: {graceful}) changed the cluster"
        );
        check(ports[2]).expect("redis-cli --cluster check passes after restart");
    }
    redis_cli_roundtrip(ports[5], ports[4], 10);
}

#[test]
fn mixed_cluster_with_redis_server() {
    if skip_without_redis() {
        return;
    }
    let redis: Vec<TestServer> = (0..3).map(|_| start_redis()).collect();
    let tessera: Vec<TestServer> = (0..3).map(|_| start_tessera()).collect();
    // Interleaved, so primaries of both kinds own slots.
    let order = [
        &redis[0],
        &tessera[0],
        &redis[1],
        &tessera[1],
        &redis[2],
        &tessera[2],
    ];
    create(&order, 0);
    let ports: Vec<u16> = order.iter().map(|n| n.port).collect();
    wait_ok(&ports, 6, Duration::from_secs(30)).expect("mixed cluster ok");
    wait_agree(&ports);
    check(redis[0].port).expect("check from a redis-server node");
    check(tessera[0].port).expect("check from a Tessera node");
    for p in &ports {
        assert_eq!(cluster_info(*p, "cluster_size"), "6");
    }
    // Every node serves its own slots: a cluster client reads and writes through all six.
    redis_cli_roundtrip(tessera[1].port, redis[2].port, 40);
    redis_py_roundtrip(redis[1].port, 20_000);
    redis_py_roundtrip(tessera[2].port, 2_000);
    // PUBLISH crosses the bus in both directions.
    for (sub_port, pub_port) in [
        (redis[0].port, tessera[0].port),
        (tessera[1].port, redis[1].port),
    ] {
        let mut sub = RawClient::connect(sub_port);
        sub.cmd(&["SUBSCRIBE", "news"]);
        c_cmd(pub_port, &["PUBLISH", "news", "hello"]);
        let msg = sub.read_reply();
        assert_eq!(items(&msg)[2].text(), "hello");
    }
}

/// A valid PING from a node nobody knows, with gossip and a hostname.
fn sample_ping(rng: &mut u64) -> Message {
    let mut name = [0u8; 40];
    for b in name.iter_mut() {
        *b = b"0123456789abcdef"[(next(rng) % 16) as usize];
    }
    let gossip = (0..(next(rng) % 4))
        .map(|_| Gossip {
            node: NodeId(name),
            ping_sent_secs: next(rng) as u32,
            pong_received_secs: next(rng) as u32,
            ip: NetIp::new(b"127.0.0.1").unwrap(),
            port: 1,
            cport: 1,
            flags: next(rng) as u16,
            pport: 0,
        })
        .collect();
    let body = match next(rng) % 3 {
        0 => Body::Ping(PingBody {
            gossip,
            extensions: vec![PingExt::Hostname(b"fuzz".to_vec())],
        }),
        1 => Body::Pong(PingBody {
            gossip,
            extensions: vec![],
        }),
        _ => Body::Publish(Publish {
            channel: b"fuzz".to_vec(),
            message: vec![7; (next(rng) % 64) as usize],
        }),
    };
    Message {
        header: MessageHeader {
            // Port 1: nothing listens there, so no node ever dials a fuzzed address.
            port: 1,
            current_epoch: 0,
            config_epoch: 0,
            offset: next(rng),
            sender: NodeId(name),
            slots: SlotBitmap::EMPTY,
            primary: None,
            ip: NetIp::EMPTY,
            pport: 0,
            cport: 1,
            flags: 1,
            state: 0,
            mflags: [0; 3],
        },
        body,
    }
}

fn next(state: &mut u64) -> u64 {
    // xorshift64: deterministic, so a failure reproduces.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Fields the fuzzer leaves alone so a mutated packet can never make a node dial out or
/// speak for a real node: type (MEET), ports, sender, announced IP.
fn protected(offset: usize) -> bool {
    matches!(offset, 10..=13 | 40..=79 | 2168..=2213 | 2246..=2249)
}

#[test]
fn bus_survives_random_and_truncated_packets() {
    if skip_without_redis() {
        return;
    }
    let (nodes, ports) = three_primaries();
    let target = ports[0] + 10000;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0..300 {
        assert!(Instant::now() < deadline, "fuzzing took too long");
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", target)) else {
            panic!("bus port refused a connection at round {round}");
        };
        let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
        let mut bytes = sample_ping(&mut rng).encode().expect("encodes");
        match round % 5 {
            // Random bytes after a real prefix, or no prefix at all.
            0 => {
                for (i, b) in bytes.iter_mut().enumerate() {
                    if !protected(i) && next(&mut rng).is_multiple_of(8) {
                        *b = next(&mut rng) as u8;
                    }
                }
            }
            1 => {
                bytes = (0..(next(&mut rng) % 5000))
                    .map(|_| next(&mut rng) as u8)
                    .collect()
            }
            // Truncated anywhere.
            2 => bytes.truncate((next(&mut rng) as usize) % bytes.len()),
            // A wrong length field.
            3 => {
                let len = (next(&mut rng) as u32).to_be_bytes();
                bytes[4..8].copy_from_slice(&len);
            }
            // Valid, then garbage on the same link.
            _ => bytes.extend((0..64).map(|_| next(&mut rng) as u8)),
        }
        let _ = s.write_all(&bytes);
    }
    for n in &nodes {
        assert!(
            RawClient::try_connect(n.port).is_ok_and(|mut c| c.try_cmd(&["PING"]).is_ok()),
            "node {} survived",
            n.port
        );
    }
    // Handshakes started by the noise expire after the handshake timeout.
    wait_ok(&ports, 3, Duration::from_secs(20)).expect("cluster still ok after the fuzzing");
    wait_agree(&ports);

    // A well-framed message that does not decode (a protocol version other than 1) is
    // ignored and the link kept open, as redis-server does; a bad frame closes it.
    let redis = start_redis();
    for port in [ports[0], redis.port] {
        let kept = link_after(port + 10000, &mut rng, |bytes| {
            bytes[8..10].copy_from_slice(&2u16.to_be_bytes());
        });
        assert!(kept, "{port}: an undecodable message closed the link");
        let kept = link_after(port + 10000, &mut rng, |bytes| bytes[0] = b'X');
        assert!(!kept, "{port}: a bad signature left the link open");
    }
}

/// Sends a sample PING changed by `spoil` on a new bus connection to `bus_port`; whether
/// the connection is still open a second later.
fn link_after(bus_port: u16, rng: &mut u64, spoil: impl FnOnce(&mut Vec<u8>)) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", bus_port)).expect("bus port");
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut bytes = sample_ping(rng).encode().expect("encodes");
    spoil(&mut bytes);
    s.write_all(&bytes).expect("write");
    let mut buf = [0u8; 64];
    match std::io::Read::read(&mut s, &mut buf) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Data saved by a standalone server, then loaded by the same server in cluster mode
/// (`verifyClusterConfigWithData()`): a fresh node claims the unassigned slots it holds
/// keys for, as redis-server does; keys outside db 0 stop it.
#[test]
fn a_node_claims_the_slots_of_the_keys_it_loads() {
    if skip_without_redis() {
        return;
    }
    let mut claimed = Vec::new();
    let mut replies: Vec<Resp> = Vec::new();
    for redis in [false, true] {
        let server = if redis {
            TestServer::redis(&[])
        } else {
            TestServer::tessera(&[])
        };
        let port = server.port;
        let mut c = server.client();
        for k in ["foo", "bar", "{user1}.a"] {
            c.cmd(&["SET", k, "v"]);
        }
        assert_eq!(c.cmd(&["SAVE"]).text(), "OK");
        let dir = server.stop_keeping_dir();
        let restarted = if redis {
            TestServer::redis_at(port, dir, &cluster_args())
        } else {
            TestServer::tessera_at(port, dir, &cluster_args())
        }
        .unwrap_or_else(|log| panic!("restart in cluster mode failed:\n{log}"));
        let nodes = c_cmd(restarted.port, &["CLUSTER", "NODES"]).text();
        let me: Vec<&str> = nodes
            .lines()
            .find(|l| l.contains("myself"))
            .expect("myself")
            .split(' ')
            .collect();
        claimed.push(slot_ranges(&me[8..]));
        // Not all slots are served: the cluster is down, on both.
        replies.push(c_cmd(restarted.port, &["GET", "foo"]));
        replies.push(c_cmd(
            restarted.port,
            &["CLUSTER", "COUNTKEYSINSLOT", "12182"],
        ));
    }
    assert_eq!(claimed[0], claimed[1], "the same slots as redis-server");
    assert_eq!(replies[..2], replies[2..]);
    assert_eq!(claimed[0].len(), 3);

    // Keys in db 1: cluster mode refuses to start.
    let server = TestServer::tessera(&[]);
    let port = server.port;
    let mut c = server.client();
    c.cmd(&["SELECT", "1"]);
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["SAVE"]);
    let dir = server.stop_keeping_dir();
    let log = TestServer::tessera_at(port, dir, &cluster_args())
        .err()
        .expect("a node with keys in db 1 must not start in cluster mode");
    assert!(
        log.contains("You can't have keys in a DB different than DB 0 when in Cluster mode"),
        "{log}"
    );
}
