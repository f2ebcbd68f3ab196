//! Differential tests: the same scripted commands sent to Tessera and to redis-server
//! 7.0.15; the raw reply bytes must be identical, in RESP2 and in RESP3.
//!
//! Scripts live in `tests/diff/*.redis`, one command per line in redis-cli quoting
//! (`SET k "a b"`), `#` comments. A line may start with a directive:
//! - `!sort CMD ...`: the reply is an array whose order is unspecified (SMEMBERS of a
//!   hashtable set, KEYS, ...): elements are compared as sorted lists;
//! - `!ignore CMD ...`: run on both, the reply is not compared (random results), but it must
//!   have the same RESP type.
//!
//! Every script starts on empty servers (FLUSHALL) and runs twice: RESP2, then RESP3
//! (after HELLO 3).
//!
//! Keyspace notifications are compared too: each server has a subscriber to every keyspace
//! and keyevent channel (`notify-keyspace-events KEA` unless a script changes it), and the
//! events each step published must be the same, in the same order. `expired` events are
//! left out: when the expiry cycle finds a key is a matter of timing.

use crate::common::{RawClient, Resp, TestServer, parse_resp, skip_without_redis};

/// Both servers are started with these options, so DEBUG and keyspace events behave alike.
const SERVER_ARGS: &[&str] = &["--enable-debug-command", "yes"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Exact,
    Sort,
    Ignore,
}

struct Step {
    line_no: usize,
    mode: Mode,
    args: Vec<Vec<u8>>,
    text: String,
}

/// Splits a script line like redis-cli does (quotes and escapes).
fn split(line: &str) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut ranges = Vec::new();
    if !tessera::protocol::parse::split_args(line.as_bytes(), &mut out, &mut ranges) {
        return None;
    }
    Some(ranges.into_iter().map(|r| out[r].to_vec()).collect())
}

fn load(name: &str) -> Vec<Step> {
    let path = format!("{}/tests/diff/{name}.redis", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mode, rest) = if let Some(r) = line.strip_prefix("!sort ") {
            (Mode::Sort, r)
        } else if let Some(r) = line.strip_prefix("!ignore ") {
            (Mode::Ignore, r)
        } else {
            (Mode::Exact, line)
        };
        let args = split(rest).unwrap_or_else(|| panic!("{path}:{}: bad quoting", i + 1));
        steps.push(Step {
            line_no: i + 1,
            mode,
            args,
            text: rest.to_string(),
        });
    }
    steps
}

fn kind(r: &Resp) -> std::mem::Discriminant<Resp> {
    std::mem::discriminant(r)
}

/// Raw bytes of each element of an aggregate reply, sorted.
fn sorted_elements(raw: &[u8]) -> Vec<Vec<u8>> {
    let header_end = raw
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(raw.len(), |p| p + 2);
    let mut rest = &raw[header_end..];
    let mut items = Vec::new();
    while !rest.is_empty() {
        match parse_resp(rest) {
            Some((_, used)) => {
                items.push(rest[..used].to_vec());
                rest = &rest[used..];
            }
            None => break,
        }
    }
    items.sort();
    items
}

fn show(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).replace("\r\n", "\\r\\n")
}

/// The channel on which a step's end is marked in the event stream.
const STEP_CHANNEL: &str = "diff:step";

/// One server's keyspace notifications, cut into steps.
struct Events {
    subscriber: RawClient,
    marker: RawClient,
    steps: u64,
}

impl Events {
    fn new(server: &TestServer) -> Events {
        let mut subscriber = server.client();
        subscriber.send(&["PSUBSCRIBE", "__key*__:*", STEP_CHANNEL]);
        for _ in 0..2 {
            subscriber.read_reply();
        }
        Events {
            subscriber,
            marker: server.client(),
            steps: 0,
        }
    }

    /// The events published since the last call (`channel payload`), without `expired`.
    fn since_last_step(&mut self) -> Vec<String> {
        self.steps += 1;
        let tag = self.steps.to_string();
        self.marker.cmd(&["PUBLISH", STEP_CHANNEL, &tag]);
        let mut events = Vec::new();
        // Bounded: a step publishes at most a few thousand events.
        for _ in 0..100_000 {
            let message = self.subscriber.read_reply();
            let [_, _, channel, payload] = message.items() else {
                panic!("not a pmessage: {message:?}");
            };
            let (channel, payload) = (channel.text(), payload.text());
            if channel == STEP_CHANNEL {
                if payload == tag {
                    return events;
                }
                continue;
            }
            if payload != "expired" && !channel.ends_with(":expired") {
                events.push(format!("{channel} {payload}"));
            }
        }
        panic!("no end of step {tag} in the event stream");
    }
}

/// Runs one script against both servers; returns the mismatches.
fn run_script(
    name: &str,
    resp3: bool,
    ours: &mut RawClient,
    theirs: &mut RawClient,
    events: &mut [Events; 2],
) -> Vec<String> {
    let mut failures = Vec::new();
    for c in [&mut *ours, &mut *theirs] {
        c.cmd(&["FLUSHALL"]);
        c.cmd(&["SELECT", "0"]);
        c.cmd(&["HELLO", if resp3 { "3" } else { "2" }]);
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    }
    for e in events.iter_mut() {
        e.since_last_step();
    }
    let protocol = if resp3 { "RESP3" } else { "RESP2" };
    for step in load(name) {
        let args: Vec<&[u8]> = step.args.iter().map(|a| a.as_slice()).collect();
        let a = ours.cmd_raw(&args);
        let b = theirs.cmd_raw(&args);
        let [our_events, their_events] = events.each_mut().map(Events::since_last_step);
        if our_events != their_events {
            failures.push(format!(
                "{name}.redis:{} [{protocol}] {} (events)\n    tessera: {our_events:?}\n    redis:   {their_events:?}",
                step.line_no, step.text,
            ));
        }
        let same = match step.mode {
            Mode::Exact => a == b,
            Mode::Sort => a[..1] == b[..1] && sorted_elements(&a) == sorted_elements(&b),
            Mode::Ignore => {
                let (pa, _) = parse_resp(&a).expect("parse");
                let (pb, _) = parse_resp(&b).expect("parse");
                kind(&pa) == kind(&pb)
            }
        };
        if !same {
            failures.push(format!(
                "{name}.redis:{} [{protocol}] {}\n    tessera: {}\n    redis:   {}",
                step.line_no,
                step.text,
                show(&a),
                show(&b)
            ));
        }
    }
    failures
}

/// Runs a script file in both protocol versions and fails with every mismatch listed.
pub fn check(name: &str) {
    if skip_without_redis() {
        return;
    }
    // With the AOF on, every scripted write also goes through propagation, where a debug
    // assertion catches a change made without a stamp.
    let mut ours_args = SERVER_ARGS.to_vec();
    ours_args.extend(["--appendonly", "yes"]);
    let tessera = TestServer::tessera(&ours_args);
    let redis = TestServer::redis(SERVER_ARGS);
    let mut ours = tessera.client();
    let mut theirs = redis.client();
    let mut events = [Events::new(&tessera), Events::new(&redis)];
    let mut failures = run_script(name, false, &mut ours, &mut theirs, &mut events);
    failures.extend(run_script(name, true, &mut ours, &mut theirs, &mut events));
    assert!(
        failures.is_empty(),
        "{} mismatches with redis-server:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The suite's size is part of the contract: at least 300 scripted commands.
/// Commands that change what a connection is (subscriber, monitor, closed), so a reply-by-reply
/// script cannot run them; their integration tests cover them.
const UNSCRIPTABLE: &[&str] = &[
    "MONITOR",
    "PSUBSCRIBE",
    "PSYNC",
    "PUNSUBSCRIBE",
    "QUIT",
    "SSUBSCRIBE",
    "SUBSCRIBE",
    "SUNSUBSCRIBE",
    "SYNC",
    "UNSUBSCRIBE",
];

#[test]
fn scripts_cover_every_served_command() {
    let dir = format!("{}/tests/diff", env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    let mut scripted = std::collections::HashSet::new();
    for entry in std::fs::read_dir(&dir).expect("tests/diff") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "redis") {
            let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
            let steps = load(name);
            total += steps.len();
            for name in steps.iter().filter_map(|step| step.args.first()) {
                scripted.insert(String::from_utf8_lossy(name).to_uppercase());
            }
        }
    }
    assert!(total >= 3000, "only {total} scripted commands");
    // The README's served-command table is checked against the command table by a unit
    // test, so it names every command Tessera serves.
    let readme = std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README.md");
    let served: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| ")?.split_once(" | "))
        .filter(|(group, _)| group.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .flat_map(|(_, cmds)| cmds.trim_end_matches(" |").split(' '))
        .filter(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(
        served.len() > 150,
        "README table not found ({} commands)",
        served.len()
    );
    let missing: Vec<&&str> = served
        .iter()
        .filter(|c| !scripted.contains(**c) && !UNSCRIPTABLE.contains(c))
        .collect();
    assert!(missing.is_empty(), "commands no script runs: {missing:?}");
}

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*
    };
}

scripts!(connection, strings, server);
scripts!(bitmaps);
scripts!(keys);
scripts!(hashes, sets);
scripts!(lists);
scripts!(zsets);
scripts!(hll);
scripts!(transactions);
scripts!(blocking);
scripts!(sort);
scripts!(dump);
scripts!(persistence);
scripts!(replication);
scripts!(geo);
scripts!(cluster);
