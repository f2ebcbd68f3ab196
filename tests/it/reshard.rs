//! Live resharding (issue 8): `redis-cli --cluster reshard` moves slots while a cluster
//! client writes and reads; afterwards every key is readable once and the cluster checks
//! clean.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cluster::{check, create, redis_py_available, start_tessera, three_primaries, wait_ok};
use super::common::{RawClient, skip_without_redis};

fn script(name: &str) -> String {
    format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` (bounded by the `timeout` it starts with); its stdout, or a panic with
/// everything it printed.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The traffic script, started in the background.
fn start_traffic(port: u16, stop: &std::path::Path) -> Child {
    Command::new("timeout")
        .args(["900", "python3"])
        .arg(script("tests/interop/reshard_traffic.py"))
        .args(["traffic", "127.0.0.1", &port.to_string()])
        .arg(stop)
        .arg("600")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the traffic script")
}

fn myid(port: u16) -> String {
    RawClient::connect(port).cmd(&["CLUSTER", "MYID"]).text()
}

fn dbsize(port: u16) -> i64 {
    RawClient::connect(port).cmd(&["DBSIZE"]).int()
}

/// Moves `slots` slots from `from` to `to` with redis-cli, bounded in time.
fn reshard(entry: u16, from: &str, to: &str, slots: usize) -> String {
    run(
        Command::new("timeout")
            .args(["600", "redis-cli", "--cluster", "reshard"])
            .arg(format!("127.0.0.1:{entry}"))
            .args(["--cluster-from", from, "--cluster-to", to])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"]),
        "redis-cli --cluster reshard",
    )
}

fn fill(port: u16, keys: usize) {
    run(
        Command::new("timeout")
            .args(["120", "python3"])
            .arg(script("scripts/cluster_fill.py"))
            .args(["127.0.0.1", &port.to_string(), &keys.to_string()]),
        "cluster_fill.py",
    );
}

/// Fills the cluster of `ports` (all primaries) with `prefilled` keys, then runs each
/// reshard of `moves` (from index, to index, slots) while a cluster client writes and
/// reads; asserts the client saw no error besides the redirections it followed, the cluster
/// checks clean, and every key is there exactly once.
fn reshard_under_traffic(ports: &[u16], prefilled: usize, moves: &[(usize, usize, usize)]) {
    fill(ports[0], prefilled);
    let stop = std::env::temp_dir().join(format!("tessera-reshard-stop-{}", ports[0]));
    let _ = std::fs::remove_file(&stop);
    let traffic = start_traffic(ports[1], &stop);
    std::thread::sleep(Duration::from_millis(500));
    for &(from, to, slots) in moves {
        reshard(ports[0], &myid(ports[from]), &myid(ports[to]), slots);
    }
    std::fs::write(&stop, b"").expect("stop file");
    let out = traffic.wait_with_output().expect("traffic script");
    let _ = std::fs::remove_file(&stop);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the client saw errors besides redirections:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: usize = report
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no write count in {report:?}"));
    assert!(written > 0, "the client wrote nothing during the reshard");

    for p in ports {
        check(*p).expect("redis-cli --cluster check passes after the reshard");
    }
    // Every key once: all readable through the cluster, and no more keys than written.
    run(
        Command::new("timeout")
            .args(["300", "python3"])
            .arg(script("tests/interop/reshard_traffic.py"))
            .args(["verify", "127.0.0.1", &ports[2].to_string()])
            .args([prefilled.to_string(), written.to_string()]),
        "verify every key",
    );
    let total: i64 = ports.iter().map(|p| dbsize(*p)).sum();
    assert_eq!(
        total as usize,
        prefilled + written,
        "a key is on two primaries"
    );
}

#[test]
fn reshard_under_traffic_loses_and_duplicates_nothing() {
    if skip_without_redis() || !redis_py_available() {
        return;
    }
    let (_nodes, ports) = three_primaries();
    reshard_under_traffic(&ports, 20_000, &[(0, 1, 4000)]);
    assert!(my_slot_count(ports[1]) >= 9000, "4000 slots moved");
}

#[test]
fn slots_move_between_redis_and_tessera_both_ways() {
    if skip_without_redis() || !redis_py_available() {
        return;
    }
    let redis = super::cluster::start_redis();
    let tessera = start_tessera();
    let third = super::cluster::start_redis();
    let nodes = [&redis, &tessera, &third];
    create(&nodes, 0);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    wait_ok(&ports, 3, Duration::from_secs(30)).expect("mixed cluster ok");
    let before = my_slot_count(tessera.port);
    // redis-server → Tessera (MIGRATE from Redis, RESTORE-ASKING into Tessera), then
    // Tessera → redis-server, both under traffic.
    reshard_under_traffic(&ports, 10_000, &[(0, 1, 1000), (1, 2, 1500)]);
    assert_eq!(my_slot_count(tessera.port), before + 1000 - 1500);
}

/// `redis-cli --cluster <args>`, bounded; panics with its output unless it succeeds
/// without an [ERR].
fn cluster_cli(args: &[&str]) -> String {
    let out = run(
        Command::new("timeout")
            .args(["300", "redis-cli", "--cluster"])
            .args(args),
        &format!("redis-cli --cluster {args:?}"),
    );
    assert!(
        !out.contains("[ERR]"),
        "redis-cli --cluster {args:?}:\n{out}"
    );
    out
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// How many slots `port` serves, by its own CLUSTER NODES line.
fn my_slot_count(port: u16) -> usize {
    let nodes = RawClient::connect(port).cmd(&["CLUSTER", "NODES"]).text();
    let me = nodes
        .lines()
        .find(|l| l.contains("myself"))
        .expect("myself line")
        .to_string();
    let fields: Vec<&str> = me.split(' ').collect();
    super::cluster::slot_ranges(&fields[8..])
        .iter()
        .map(|(a, b)| usize::from(b - a) + 1)
        .sum()
}

#[test]
fn cluster_grows_rebalances_shrinks_and_is_fixed_with_redis_cli() {
    if skip_without_redis() || !redis_py_available() {
        return;
    }
    const KEYS: usize = 3000;
    let (mut nodes, ports) = three_primaries();
    fill(ports[0], KEYS);
    let entry = addr(ports[0]);

    // add-node: an empty master, then a replica of it.
    let master = start_tessera();
    let replica = start_tessera();
    cluster_cli(&["add-node", &addr(master.port), &entry]);
    let mut all: Vec<u16> = ports.clone();
    all.push(master.port);
    wait_ok(&all, 4, Duration::from_secs(30)).expect("the new master joined");
    let master_id = myid(master.port);
    cluster_cli(&[
        "add-node",
        &addr(replica.port),
        &entry,
        "--cluster-slave",
        "--cluster-master-id",
        &master_id,
    ]);
    all.push(replica.port);
    wait_ok(&all, 5, Duration::from_secs(30)).expect("the replica joined");
    super::failover::wait_role(replica.port, "slave", Duration::from_secs(30))
        .expect("added as a replica");
    super::failover::wait_link_up(replica.port, Duration::from_secs(30)).expect("replica synced");

    // rebalance onto the empty master.
    cluster_cli(&["rebalance", &entry, "--cluster-use-empty-masters"]);
    let given = my_slot_count(master.port);
    assert!(
        (3500..=4600).contains(&given),
        "the empty master got a quarter of the slots, not {given}"
    );
    check(ports[0]).expect("check after rebalance");
    let masters = [ports[0], ports[1], ports[2], master.port];
    let total: i64 = masters.iter().map(|p| dbsize(*p)).sum();
    assert_eq!(total as usize, KEYS, "keys after rebalance");

    // Empty it again (weight 0), then del-node: its replica moves to another master.
    cluster_cli(&[
        "rebalance",
        &entry,
        "--cluster-weight",
        &format!("{master_id}=0"),
    ]);
    assert_eq!(my_slot_count(master.port), 0, "emptied");
    cluster_cli(&["del-node", &entry, &master_id]);
    let rest: Vec<u16> = vec![ports[0], ports[1], ports[2], replica.port];
    wait_ok(&rest, 4, Duration::from_secs(30)).expect("ok without the deleted master");
    check(ports[0]).expect("check after del-node");
    let total: i64 = ports.iter().map(|p| dbsize(*p)).sum();
    assert_eq!(total as usize, KEYS, "keys after del-node");
    drop(master);

    // fix: a slot left migrating by an interrupted move is closed.
    let mut first = RawClient::connect(ports[0]);
    let slot = (0..16384u16)
        .find(|s| {
            first
                .cmd(&["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()])
                .int()
                > 0
        })
        .expect("a slot with keys on the first master");
    let to = myid(ports[1]);
    let slot_text = slot.to_string();
    let opened =
        RawClient::connect(ports[0]).cmd(&["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &to]);
    assert_eq!(opened.text(), "OK");
    let before = check(ports[0]).expect_err("an open slot fails the check");
    assert!(before.contains("open"), "{before}");
    cluster_cli(&["fix", &entry]);
    check(ports[0]).expect("check after fix");
    let total: i64 = ports.iter().map(|p| dbsize(*p)).sum();
    assert_eq!(total as usize, KEYS, "keys after fix");
    nodes.clear();
}

#[test]
fn keys_of_a_lost_slot_leave_the_replicas_too() {
    if skip_without_redis() {
        return;
    }
    let (_nodes, ports) = three_primaries();
    let replica = start_tessera();
    cluster_cli(&[
        "add-node",
        &addr(replica.port),
        &addr(ports[0]),
        "--cluster-slave",
        "--cluster-master-id",
        &myid(ports[0]),
    ]);
    super::failover::wait_link_up(replica.port, Duration::from_secs(30)).expect("replica synced");

    // Keys in slot 100 (served by the first primary), on its replica too.
    let keys: Vec<String> = (0..)
        .map(|i| format!("k{i}"))
        .filter(|k| tessera::keyspace::slot::key_slot(k.as_bytes()).0 == 100)
        .take(5)
        .collect();
    let mut p = RawClient::connect(ports[0]);
    for k in &keys {
        assert_eq!(p.cmd(&["SET", k, "v"]).text(), "OK");
    }
    assert_eq!(p.cmd(&["WAIT", "1", "5000"]).int(), 1);
    let count = |port: u16| {
        RawClient::connect(port)
            .cmd(&["CLUSTER", "COUNTKEYSINSLOT", "100"])
            .int()
    };
    assert_eq!(count(replica.port), 5);

    // Another primary takes the slot with a newer epoch: the first one loses it with its
    // keys, and tells its replica (and AOF) with DELs.
    let mut other = RawClient::connect(ports[1]);
    assert_eq!(
        other
            .cmd(&["CLUSTER", "BUMPEPOCH"])
            .text()
            .split(' ')
            .next(),
        Some("BUMPED")
    );
    let other_id = myid(ports[1]);
    assert_eq!(
        other
            .cmd(&["CLUSTER", "SETSLOT", "100", "NODE", &other_id])
            .text(),
        "OK"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while count(ports[0]) != 0 || count(replica.port) != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "keys of slot 100: primary {}, replica {}",
            count(ports[0]),
            count(replica.port)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A client blocked on a key whose slot moves to another node is told MOVED, as
/// redis-server tells it, instead of waiting for a write that cannot come.
#[test]
fn blocked_client_is_redirected_when_its_slot_moves() {
    if skip_without_redis() {
        return;
    }
    let mut errors = Vec::new();
    for redis in [false, true] {
        let nodes: Vec<_> = (0..3)
            .map(|_| {
                if redis {
                    super::cluster::start_redis()
                } else {
                    start_tessera()
                }
            })
            .collect();
        create(&nodes.iter().collect::<Vec<_>>(), 0);
        let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
        wait_ok(&ports, 3, Duration::from_secs(30)).expect("cluster ok");
        // "queue" hashes to slot 13011 (third primary's range); move it to the first.
        let (owner, taker) = (ports[2], ports[0]);
        let mut blocked = RawClient::connect(owner);
        blocked.send(&["BLPOP", "queue", "0"]);
        std::thread::sleep(Duration::from_millis(300));
        let taker_id = myid(taker);
        for port in [taker, owner] {
            let reply =
                RawClient::connect(port).cmd(&["CLUSTER", "SETSLOT", "13011", "NODE", &taker_id]);
            assert_eq!(reply.text(), "OK");
        }
        blocked
            .stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        errors.push(
            blocked
                .read_reply()
                .text()
                .replace(&taker.to_string(), "<port>"),
        );
    }
    assert_eq!(errors[0], errors[1], "Tessera's reply, then redis-server's");
    assert_eq!(errors[0], "MOVED 13011 127.0.0.1:<port>");
}
