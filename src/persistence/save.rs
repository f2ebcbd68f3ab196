//! Writing the keyspace to an RDB file from a fork-free snapshot, and loading one back.
//!
//! The snapshot's visitor serializes each shard into a buffer and queues it; this thread
//! writes the queue out between the steps of its walk, with no lock held. The file is
//! written under a temporary name, synced and renamed into place, as Redis does, so a crash
//! mid-save leaves the previous file intact.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use super::rdb::file::{self, LoadOptions, LoadSummary, Preamble, Record, RecordOptions};
use super::rdb::{CRC64, RdbError};
use crate::keyspace::{Entry, Keyspace, ShardData, ShardVisitor, SnapshotBusy};

/// How to write a file.
pub struct SaveOptions {
    pub preamble: Preamble,
    pub records: RecordOptions,
    /// `rdbchecksum`.
    pub checksum: bool,
    /// Write commands instead of an RDB (an AOF base with `aof-use-rdb-preamble no`).
    pub commands: bool,
}

/// What a save did.
#[derive(Debug, Default)]
pub struct SaveSummary {
    pub keys: u64,
    pub bytes: u64,
}

/// Why a save failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("Background save already in progress")]
    Busy,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The data set was replaced while the file was written (FLUSHALL).
    #[error("discarded: the data set changed while saving")]
    Discarded,
}

impl From<SnapshotBusy> for SaveError {
    fn from(_: SnapshotBusy) -> Self {
        SaveError::Busy
    }
}

/// Tells temporary files of concurrent saves in one process apart.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// The temporary name a save writes to before renaming it to `path`.
fn temp_path(path: &Path) -> PathBuf {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!("temp-{}-{seq}.rdb", std::process::id()))
}

/// The file being written, with its running checksum; the first I/O error sticks.
struct Output<W> {
    out: W,
    digest: Option<crc::Digest<'static, u64, crc::Table<16>>>,
    bytes: u64,
    error: Option<std::io::Error>,
}

impl<W: Write> Output<W> {
    fn write(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Some(d) = self.digest.as_mut() {
            d.update(bytes);
        }
        self.bytes += bytes.len() as u64;
        if let Err(e) = self.out.write_all(bytes) {
            self.error = Some(e);
        }
    }
}

/// Saves a point-in-time copy of `keyspace` to `path`.
pub fn save_rdb(
    keyspace: &Keyspace,
    path: &Path,
    opts: &SaveOptions,
) -> Result<SaveSummary, SaveError> {
    save_rdb_if(keyspace, path, opts, || {}, || true)?.ok_or(SaveError::Discarded)
}

/// Like [`save_rdb`], but runs `at_instant` at the snapshot's instant (under the gate: keep
/// it short), and the written file replaces `path` only if `keep()` still says so when it is
/// complete (None: discarded).
pub fn save_rdb_if(
    keyspace: &Keyspace,
    path: &Path,
    opts: &SaveOptions,
    at_instant: impl FnOnce(),
    keep: impl Fn() -> bool,
) -> Result<Option<SaveSummary>, SaveError> {
    let temp = temp_path(path);
    let result = write_file(keyspace, &temp, opts, at_instant).and_then(|summary| {
        if !keep() {
            std::fs::remove_file(&temp)?;
            return Ok(None);
        }
        std::fs::rename(&temp, path)?;
        // Make the rename itself durable.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
        Ok(Some(summary))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write_file(
    keyspace: &Keyspace,
    temp: &Path,
    opts: &SaveOptions,
    at_instant: impl FnOnce(),
) -> Result<SaveSummary, SaveError> {
    let file = File::create(temp)?;
    let (summary, out) = write_to(
        keyspace,
        BufWriter::with_capacity(1 << 20, file),
        opts,
        at_instant,
    )?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(summary)
}

/// Writes a point-in-time copy of `keyspace` to `out` (a file, or a replica's socket for
/// a diskless sync); hands `out` back, flushed.
pub fn write_to<W: Write>(
    keyspace: &Keyspace,
    out: W,
    opts: &SaveOptions,
    at_instant: impl FnOnce(),
) -> Result<(SaveSummary, W), SaveError> {
    let output = RefCell::new(Output {
        out,
        // A command-format AOF base has no trailer to put the checksum in.
        digest: (opts.checksum && !opts.commands).then(|| CRC64.digest()),
        bytes: 0,
        error: None,
    });
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let records = opts.records;
    let commands = opts.commands;
    let walker = std::thread::current().id();
    // A writer that reaches a shard before the walk encodes it without LZF: compressing
    // the values is most of the cost of encoding, and it would be paid inside the
    // writer's command (scripts/bgsave_latency.sh, 2M keys: p99.9 latency during the save
    // 12.6x its idle value with compression there, 1.9x without; docs/benchmarks.md). Both
    // forms are valid in one file.
    let visit: ShardVisitor = Arc::new(move |_, shard: &ShardData| {
        let mut buf = Vec::new();
        if commands {
            super::aof::base::write_shard(&mut buf, shard);
        } else {
            let mut opts = records;
            if std::thread::current().id() != walker {
                opts.compress = false;
            }
            file::write_shard(&mut buf, shard, opts);
        }
        if !buf.is_empty() {
            // The receiver lives until the walk is over; a send cannot fail before then.
            let _ = tx.send(buf);
        }
    });
    let mut keys = 0u64;
    let mut drain = || {
        while let Ok(chunk) = rx.try_recv() {
            output.borrow_mut().write(&chunk);
        }
    };
    keyspace.snapshot(
        |shards| {
            at_instant();
            let sizes = database_sizes(shards.iter().map(|g| &**g));
            keys = sizes.iter().map(|s| s.1).sum();
            if !commands {
                let mut preamble = Vec::new();
                file::write_preamble(&mut preamble, &opts.preamble, &sizes);
                output.borrow_mut().write(&preamble);
            }
        },
        visit,
        &mut drain,
    )?;
    drain();
    let mut output = output.into_inner();
    if !commands {
        let mut trailer = Vec::new();
        file::write_trailer(&mut trailer, output.digest.take());
        output.write(&trailer);
    }
    if let Some(e) = output.error.take() {
        return Err(e.into());
    }
    output.out.flush()?;
    let summary = SaveSummary {
        keys,
        bytes: output.bytes,
    };
    Ok((summary, output.out))
}

/// (db, keys, keys with an expiry) for every database with keys.
fn database_sizes<'a>(shards: impl Iterator<Item = &'a ShardData>) -> Vec<(usize, u64, u64)> {
    let mut sizes: Vec<(usize, u64, u64)> = Vec::new();
    for shard in shards {
        for db in 0..shard.db_count() {
            let Some(d) = shard.db_ref(db).filter(|d| !d.is_empty()) else {
                continue;
            };
            if sizes.len() <= db {
                sizes.resize_with(db + 1, Default::default);
            }
            sizes[db].1 += d.len() as u64;
            sizes[db].2 += d.expires() as u64;
        }
    }
    sizes
        .into_iter()
        .enumerate()
        .filter(|(_, s)| s.1 > 0)
        .map(|(db, s)| (db, s.1, s.2))
        .collect()
}

/// How loaded keys' access fields are set: the LRU clock (minus any idle time the file
/// gives), or, under an LFU policy, the file's counter (or the initial one) as of now.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessClock {
    pub lru_clock: u32,
    pub lfu_now_ms: Option<i64>,
}

/// Loads an RDB file into `keyspace`; keys already expired are dropped. A key that is
/// already there fails the load, unless `replace`.
pub fn load_rdb(
    keyspace: &Keyspace,
    path: &Path,
    opts: &LoadOptions,
    clock: AccessClock,
    replace: bool,
) -> Result<LoadSummary, RdbError> {
    let file = File::open(path).map_err(RdbError::Io)?;
    let input = BufReader::with_capacity(1 << 20, file);
    file::load(input, opts, |record: Record| {
        let mut shard = keyspace.lock_key(record.key.as_slice());
        let db = shard.db(record.db);
        if !replace && db.peek(record.key.as_slice()).is_some() {
            return false;
        }
        let lru = match (clock.lfu_now_ms, record.freq, record.idle_secs) {
            (Some(now), freq, _) => crate::keyspace::lfu::with_counter(
                now,
                freq.unwrap_or(crate::keyspace::lfu::INIT_VAL),
            ),
            (None, _, Some(idle)) => {
                let idle = idle.min(u64::from(u32::MAX)) as u32;
                clock.lru_clock.wrapping_sub(idle) & ((1 << 24) - 1)
            }
            (None, _, None) => clock.lru_clock,
        };
        let mut entry = Entry::new(record.key.as_slice(), record.value, lru);
        entry.expire_at = record.expire_at;
        db.put(entry);
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::SmallBytes;
    use crate::keyspace::value::{EncodingLimits, Value};
    use std::sync::atomic::AtomicBool;

    const PAIRS: usize = 2000;
    const TOTAL: i64 = 1000;

    fn options() -> SaveOptions {
        SaveOptions {
            preamble: Preamble {
                redis_version: "7.0.15",
                ctime_secs: 0,
                used_mem: 0,
                repl_id: "0".repeat(40),
                repl_offset: 0,
                aof_base: false,
            },
            records: RecordOptions {
                compress: true,
                lru_clock: None,
                lfu: None,
            },
            checksum: true,
            commands: false,
        }
    }

    fn int_of(ks: &Keyspace, key: &[u8]) -> i64 {
        let shard = ks.lock_key(key);
        match shard.db_ref(0).and_then(|d| d.peek(key)).map(|e| &e.value) {
            Some(Value::Str(s)) => std::str::from_utf8(s).unwrap_or("x").parse().unwrap_or(-1),
            _ => -1,
        }
    }

    fn set_int(ks: &Keyspace, key: &[u8], v: i64) {
        let mut shard = ks.lock_key(key);
        let value = Value::Str(SmallBytes::from_slice(v.to_string().as_bytes()));
        shard.db(0).put(Entry::new(key, value, 0));
    }

    /// Writers move units between the two keys of a pair (different shards) atomically
    /// while the save runs; a point-in-time file has every pair summing to TOTAL. A save
    /// that copied shards at different instants would catch pairs mid-transfer.
    #[test]
    fn saves_one_instant_while_writers_run() {
        let ks = Arc::new(Keyspace::new(16));
        let key = |side: char, i: usize| format!("{side}:{i}").into_bytes();
        for i in 0..PAIRS {
            set_int(&ks, &key('a', i), TOTAL);
            set_int(&ks, &key('b', i), 0);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dump.rdb");
        let done = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (ks, done) = (ks.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut moves = 0u64;
                    // Bounded: stops when the save is over, or after 5 million moves.
                    while !done.load(Ordering::Relaxed) && moves < 5_000_000 {
                        let i = (moves as usize * 7 + w * 13) % PAIRS;
                        let (a, b) = (key('a', i), key('b', i));
                        let mut locked = ks.lock_keys([a.as_slice(), b.as_slice()]);
                        let read =
                            |d: &crate::keyspace::Db, k: &[u8]| match d.peek(k).map(|e| &e.value) {
                                Some(Value::Str(s)) => std::str::from_utf8(s)
                                    .unwrap_or("0")
                                    .parse::<i64>()
                                    .unwrap_or(0),
                                _ => 0,
                            };
                        let va = read(locked.db(&a, 0), &a);
                        let vb = read(locked.db(&b, 0), &b);
                        let (va, vb) = if va > 0 {
                            (va - 1, vb + 1)
                        } else {
                            (va + vb, 0)
                        };
                        for (k, v) in [(&a, va), (&b, vb)] {
                            let value =
                                Value::Str(SmallBytes::from_slice(v.to_string().as_bytes()));
                            locked.db(k, 0).put(Entry::new(k, value, 0));
                        }
                        moves += 1;
                    }
                    moves
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let summary = save_rdb(&ks, &path, &options()).expect("saved");
        done.store(true, Ordering::Relaxed);
        let moves: u64 = writers.into_iter().map(|w| w.join().expect("writer")).sum();
        assert!(moves > 0, "writers ran");
        assert_eq!(summary.keys, 2 * PAIRS as u64);
        let loaded = Keyspace::new(16);
        let opts = LoadOptions {
            databases: 16,
            limits: EncodingLimits::default(),
            now_ms: 0,
        };
        let got = load_rdb(&loaded, &path, &opts, AccessClock::default(), false).expect("loads");
        assert_eq!(got.keys_loaded, 2 * PAIRS as u64);
        for i in 0..PAIRS {
            let (a, b) = (int_of(&loaded, &key('a', i)), int_of(&loaded, &key('b', i)));
            assert_eq!(a + b, TOTAL, "pair {i}: {a} + {b}");
        }
    }

    #[test]
    fn corrupt_files_are_refused_and_the_old_file_survives_a_failed_save() {
        let ks = Keyspace::new(16);
        set_int(&ks, b"k", 7);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dump.rdb");
        save_rdb(&ks, &path, &options()).expect("saved");
        let good = std::fs::read(&path).expect("read");
        let opts = LoadOptions {
            databases: 16,
            limits: EncodingLimits::default(),
            now_ms: 0,
        };
        let mut flipped = good.clone();
        let mid = good.len() / 2;
        flipped[mid] ^= 0x20;
        for bad in [
            flipped,
            good[..good.len() - 3].to_vec(),
            b"REDIS0012".to_vec(),
        ] {
            std::fs::write(&path, &bad).expect("write");
            assert!(
                load_rdb(
                    &Keyspace::new(16),
                    &path,
                    &opts,
                    AccessClock::default(),
                    false
                )
                .is_err()
            );
        }
        std::fs::write(&path, &good).expect("write");
        let missing_dir = dir.path().join("nope").join("dump.rdb");
        assert!(save_rdb(&ks, &missing_dir, &options()).is_err());
        assert_eq!(std::fs::read(&path).expect("read"), good);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "no temp file left"
        );
    }
}
