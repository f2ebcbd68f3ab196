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

/// Runs one script against both servers; returns the mismatches.
fn run_script(
    name: &str,
    resp3: bool,
    ours: &mut RawClient,
    theirs: &mut RawClient,
) -> Vec<String> {
    let mut failures = Vec::new();
    for c in [&mut *ours, &mut *theirs] {
        c.cmd(&["FLUSHALL"]);
        c.cmd(&["SELECT", "0"]);
        c.cmd(&["HELLO", if resp3 { "3" } else { "2" }]);
    }
    for step in load(name) {
        let args: Vec<&[u8]> = step.args.iter().map(|a| a.as_slice()).collect();
        let a = ours.cmd_raw(&args);
        let b = theirs.cmd_raw(&args);
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
                "{name}.redis:{} [{}] {}\n    tessera: {}\n    redis:   {}",
                step.line_no,
                if resp3 { "RESP3" } else { "RESP2" },
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
    let tessera = TestServer::tessera(SERVER_ARGS);
    let redis = TestServer::redis(SERVER_ARGS);
    let mut ours = tessera.client();
    let mut theirs = redis.client();
    let mut failures = run_script(name, false, &mut ours, &mut theirs);
    failures.extend(run_script(name, true, &mut ours, &mut theirs));
    assert!(
        failures.is_empty(),
        "{} mismatches with redis-server:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The suite's size is part of the contract: at least 300 scripted commands.
#[test]
fn scripts_cover_enough_commands() {
    let dir = format!("{}/tests/diff", env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/diff") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "redis") {
            let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
            total += load(name).len();
        }
    }
    assert!(total >= 300, "only {total} scripted commands");
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
scripts!(geo);
