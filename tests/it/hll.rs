//! HyperLogLog against redis-server 7.0.15: the same pseudo-random elements fed to both,
//! with the counts and the raw HLL bytes compared as the values grow from sparse to
//! dense, merged and counted together; and the keyspace events, dirty counts and
//! keyspace hits/misses of each command compared.

use std::time::{Duration, Instant};

use crate::common::{RawClient, TestServer, assert_same_effects_as_redis, skip_without_redis};

/// Bound on each run.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// SplitMix64: a fixed, dependency-free stream, so both servers see the same elements.
pub(crate) struct Stream(pub(crate) u64);

impl Stream {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An element of 1 to 24 arbitrary bytes.
    fn element(&mut self) -> Vec<u8> {
        let len = 1 + (self.next() % 24) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Sends one command to both servers; the raw replies must be identical.
fn both(ours: &mut RawClient, theirs: &mut RawClient, args: &[&[u8]]) -> Vec<u8> {
    let a = ours.cmd_raw(args);
    let b = theirs.cmd_raw(args);
    let name = String::from_utf8_lossy(args[0]);
    assert!(
        a == b,
        "{name} {:?}: tessera {} bytes, redis {} bytes; first difference at {:?}",
        args.get(1).map(|k| String::from_utf8_lossy(k)),
        a.len(),
        b.len(),
        a.iter().zip(&b).position(|(x, y)| x != y)
    );
    a
}

/// Compares the counts and the bytes of every key, then a merge of all of them.
fn checkpoint(ours: &mut RawClient, theirs: &mut RawClient, keys: &[&[u8]]) {
    for &key in keys {
        both(ours, theirs, &[b"GET", key]);
        both(ours, theirs, &[b"PFCOUNT", key]);
        // The count was cached in the value.
        both(ours, theirs, &[b"GET", key]);
    }
    let mut union: Vec<&[u8]> = vec![b"PFCOUNT"];
    union.extend_from_slice(keys);
    both(ours, theirs, &union);
    let mut merge: Vec<&[u8]> = vec![b"PFMERGE", b"merged"];
    merge.extend_from_slice(keys);
    both(ours, theirs, &merge);
    both(ours, theirs, &[b"GET", b"merged"]);
    both(ours, theirs, &[b"PFCOUNT", b"merged"]);
    // Merging into a sparse destination that already holds registers.
    both(ours, theirs, &[b"DEL", b"into"]);
    both(ours, theirs, &[b"PFADD", b"into", b"x", b"y"]);
    let mut merge: Vec<&[u8]> = vec![b"PFMERGE", b"into"];
    merge.extend_from_slice(&keys[1..]);
    both(ours, theirs, &merge);
    both(ours, theirs, &[b"GET", b"into"]);
}

/// `total` elements in growing batches over three keys (the third sees every element
/// the others see), with checkpoints while sparse and after promotion.
fn feed_and_compare(sparse_max: &str, total: usize) {
    let started = Instant::now();
    let tessera = TestServer::tessera(&["--hll-sparse-max-bytes", sparse_max]);
    let redis = TestServer::redis(&["--hll-sparse-max-bytes", sparse_max]);
    let (mut ours, mut theirs) = (tessera.client(), redis.client());
    let keys: [&[u8]; 3] = [b"hll:a", b"hll:b", b"hll:c"];
    let mut stream = Stream(0x7e55e4a);
    let (mut fed, mut batch, mut round) = (0, 1, 0);
    while fed < total {
        assert!(started.elapsed() < TIME_LIMIT, "took too long");
        let elements: Vec<Vec<u8>> = (0..batch).map(|_| stream.element()).collect();
        let key = keys[round % 2];
        for target in [key, keys[2]] {
            let mut args: Vec<&[u8]> = vec![b"PFADD", target];
            args.extend(elements.iter().map(Vec::as_slice));
            both(&mut ours, &mut theirs, &args);
        }
        fed += batch;
        round += 1;
        if round % 4 == 0 {
            checkpoint(&mut ours, &mut theirs, &keys);
        }
        batch = (batch * 2).min(2000);
    }
    checkpoint(&mut ours, &mut theirs, &keys);
    let count_c = both(&mut ours, &mut theirs, &[b"PFCOUNT", keys[2]]);
    let count: u64 = String::from_utf8_lossy(&count_c)
        .trim_start_matches(':')
        .trim_end()
        .parse()
        .expect("a count");
    // The estimate is within a few percent of the elements fed.
    assert!(count.abs_diff(total as u64) < total as u64 / 20, "{count}");
}

#[test]
fn random_elements_match_redis() {
    if skip_without_redis() {
        return;
    }
    feed_and_compare("3000", 50_000);
}

#[test]
fn random_elements_match_redis_with_a_large_sparse_limit() {
    if skip_without_redis() {
        return;
    }
    // Sparse edits cost O(size) each, and the debug build is slow at them.
    feed_and_compare("12000", 16_000);
}

#[test]
fn events_dirty_and_stats_match_redis() {
    if skip_without_redis() {
        return;
    }
    let commands: &[&[&str]] = &[
        &["PFADD", "h1", "a", "b", "c"],
        &["PFADD", "h1", "a"],
        &["PFADD", "h1"],
        &["PFADD", "h2"],
        &["PFCOUNT", "h1"],
        &["PFCOUNT", "h1"],
        &["PFCOUNT", "nosuch"],
        &["PFCOUNT", "h1", "h2", "nosuch"],
        &["PFMERGE", "m", "h1", "h2", "nosuch"],
        &["PFMERGE", "m", "h1"],
        &["PFMERGE", "m"],
        &["SET", "s", "x"],
        &["PFADD", "s", "a"],
        &["PFCOUNT", "s"],
        &["PFMERGE", "m", "s"],
        &["PFMERGE", "m2", "nosuch", "s"],
        &["SET", "junk", "HYLL\x01\0\0\0\0\0\0\0\0\0\0\u{7f}garbage"],
        &["PFCOUNT", "junk"],
        &["PFADD", "junk", "a", "b", "c", "d"],
        &["PFMERGE", "m3", "junk"],
        &["SET", "ttl", "x", "PX", "1"],
        &["DEBUG", "SLEEP", "0.01"],
        &["PFADD", "ttl", "a"],
        &["PFMERGE", "ttl2", "h1"],
    ];
    assert_same_effects_as_redis(commands);
}
