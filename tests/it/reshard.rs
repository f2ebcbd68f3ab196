//! Live resharding (issue 8): `redis-cli --cluster reshard` moves slots while a cluster
//! client writes and reads; afterwards every key is readable once and the cluster checks
//! clean.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cluster::{check, create, redis_py_available, start_tessera, wait_ok};
use super::common::{RawClient, TestServer, skip_without_redis};

fn script(name: &str) -> String {
    format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd`, bounded by `secs`; its stdout, or a panic with everything it printed.
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

#[test]
fn reshard_under_traffic_loses_and_duplicates_nothing() {
    if skip_without_redis() || !redis_py_available() {
        return;
    }
    const PREFILLED: usize = 20_000;
    let nodes: Vec<TestServer> = (0..3).map(|_| start_tessera()).collect();
    create(&nodes.iter().collect::<Vec<_>>(), 0);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    wait_ok(&ports, 3, Duration::from_secs(30)).expect("cluster ok");
    run(
        Command::new("timeout")
            .args(["120", "python3"])
            .arg(script("scripts/cluster_fill.py"))
            .args(["127.0.0.1", &ports[0].to_string(), &PREFILLED.to_string()]),
        "cluster_fill.py",
    );

    let stop = nodes[0].dir.path().join("stop-traffic");
    let traffic = start_traffic(ports[1], &stop);
    std::thread::sleep(Duration::from_millis(500));
    let (from, to) = (myid(ports[0]), myid(ports[1]));
    reshard(ports[0], &from, &to, 4000);
    std::fs::write(&stop, b"").expect("stop file");
    let out = traffic.wait_with_output().expect("traffic script");
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

    check(ports[0]).expect("redis-cli --cluster check passes after the reshard");
    let slots = |port: u16| super::cluster::cluster_info(port, "cluster_slots_assigned");
    assert_eq!(slots(ports[2]), "16384");
    // Every key once: all readable through the cluster, and no more keys than written.
    run(
        Command::new("timeout")
            .args(["300", "python3"])
            .arg(script("tests/interop/reshard_traffic.py"))
            .args(["verify", "127.0.0.1", &ports[2].to_string()])
            .args([PREFILLED.to_string(), written.to_string()]),
        "verify every key",
    );
    let total: i64 = ports.iter().map(|p| dbsize(*p)).sum();
    assert_eq!(
        total as usize,
        PREFILLED + written,
        "a key is on two masters"
    );
    let moved_to = RawClient::connect(ports[1])
        .cmd(&["CLUSTER", "COUNTKEYSINSLOT", "0"])
        .int();
    assert!(moved_to > 0, "slot 0 moved with its keys");
}
